//! The vehicle agent's offline buffer: samples wait here until the broker takes them. Bounded;
//! when full, the oldest sample is dropped (the newest say most about the vehicle now) and
//! counted.

use std::collections::VecDeque;

/// A bounded first-in-first-out queue that drops its oldest entry when full.
#[derive(Debug)]
pub(crate) struct OfflineBuffer<T> {
    items: VecDeque<T>,
    capacity: usize,
    dropped: u64,
}

impl<T> OfflineBuffer<T> {
    /// A buffer for `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        OfflineBuffer {
            items: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
            dropped: 0,
        }
    }

    /// Appends `item`, dropping the oldest entry first when the buffer is full.
    pub(crate) fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.items.push_back(item);
    }

    /// The oldest entry, left in place until [`Self::pop`] confirms it was sent.
    pub(crate) fn front(&self) -> Option<&T> {
        self.items.front()
    }

    pub(crate) fn pop(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// How many entries were dropped because the buffer was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_drops_the_oldest_when_full() {
        let mut b = OfflineBuffer::new(3);
        for i in 1..=5 {
            b.push(i);
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.dropped(), 2);
        assert_eq!(b.front(), Some(&3));
        let drained: Vec<_> = std::iter::from_fn(|| b.pop()).collect();
        assert_eq!(drained, [3, 4, 5]);
        assert_eq!(b.dropped(), 2, "draining is not dropping");
    }

    #[test]
    fn front_leaves_the_entry_until_popped() {
        let mut b = OfflineBuffer::new(0);
        b.push("a");
        assert_eq!(b.front(), Some(&"a"));
        assert_eq!(b.len(), 1);
        b.push("b");
        assert_eq!((b.pop(), b.dropped()), (Some("b"), 1));
        assert_eq!(b.pop(), None);
    }
}
