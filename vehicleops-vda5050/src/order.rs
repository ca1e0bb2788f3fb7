//! Building VDA 5050 orders: routes from waypoints or missions, order updates, and progress.
//!
//! Nodes carry even sequence ids and the edges between them the odd ones (0, 1, 2, …). An order
//! update keeps the order id, raises `orderUpdateId` and starts at the last base node of the
//! previous update, so sequence ids continue where they stopped.

use serde::{Deserialize, Serialize};

use crate::messages::{Action, Edge, Header, Node, NodePosition, Order, State};

/// A point of a route in the map frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutePoint {
    pub node_id: String,
    pub x: f64,
    pub y: f64,
    pub map_id: String,
}

/// Nodes and edges for `points`, numbered from `first_sequence_id`; the first `released`
/// nodes (and the edges between them) form the base, the rest the horizon. `last_actions` go
/// on the final node.
pub fn route(
    points: &[RoutePoint],
    first_sequence_id: u64,
    released: usize,
    last_actions: Vec<Action>,
) -> (Vec<Node>, Vec<Edge>) {
    let mut nodes = Vec::with_capacity(points.len());
    let mut edges = Vec::with_capacity(points.len().saturating_sub(1));
    let mut last_actions = Some(last_actions);
    for (i, p) in points.iter().enumerate() {
        let sequence_id = first_sequence_id + 2 * i as u64;
        if i > 0 {
            let prev = &points[i - 1];
            edges.push(Edge {
                edge_id: format!("{}-{}", prev.node_id, p.node_id),
                sequence_id: sequence_id - 1,
                released: i < released,
                start_node_id: prev.node_id.clone(),
                end_node_id: p.node_id.clone(),
                max_speed: None,
                actions: Vec::new(),
            });
        }
        let actions = if i + 1 == points.len() {
            last_actions.take().unwrap_or_default()
        } else {
            Vec::new()
        };
        nodes.push(Node {
            node_id: p.node_id.clone(),
            sequence_id,
            released: i < released,
            node_position: Some(NodePosition {
                x: p.x,
                y: p.y,
                theta: None,
                allowed_deviation_x_y: Some(0.5),
                map_id: p.map_id.clone(),
            }),
            actions,
        });
    }
    (nodes, edges)
}

/// An order message (header filled in by whoever publishes it).
pub fn order(
    header: Header,
    order_id: &str,
    order_update_id: u64,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
) -> Order {
    Order {
        header,
        order_id: order_id.to_owned(),
        order_update_id,
        nodes,
        edges,
    }
}

/// How far a vehicle is through an order, from its `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderProgress {
    /// Nodes of the order the vehicle has reached (the first counts once it is there).
    pub nodes_reached: u32,
    pub nodes_total: u32,
    /// Every node reached and nothing left to do.
    pub finished: bool,
}

/// Progress through `order` (the latest update sent) as `state` reports it; `None` when the
/// vehicle is working on another order or has not taken this update yet.
pub fn progress(order: &Order, state: &State) -> Option<OrderProgress> {
    if state.order_id != order.order_id || state.order_update_id < order.order_update_id {
        return None;
    }
    let pending = |seq: u64| state.node_states.iter().any(|n| n.sequence_id == seq);
    let nodes_reached = order
        .nodes
        .iter()
        .filter(|n| n.sequence_id <= state.last_node_sequence_id && !pending(n.sequence_id))
        .count() as u32;
    let nodes_total = order.nodes.len() as u32;
    Some(OrderProgress {
        nodes_reached,
        nodes_total,
        finished: nodes_reached == nodes_total && state.node_states.is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(n: usize) -> Vec<RoutePoint> {
        (0..n)
            .map(|i| RoutePoint {
                node_id: format!("n{i}"),
                x: i as f64 * 10.0,
                y: 0.0,
                map_id: "hall".into(),
            })
            .collect()
    }

    #[test]
    fn numbers_nodes_even_and_edges_odd_with_a_horizon() {
        let (nodes, edges) = route(
            &points(4),
            6,
            2,
            vec![Action::new(
                "startCharging",
                "a1",
                crate::messages::BlockingType::Hard,
            )],
        );
        let seqs: Vec<_> = nodes.iter().map(|n| (n.sequence_id, n.released)).collect();
        assert_eq!(seqs, [(6, true), (8, true), (10, false), (12, false)]);
        let eseqs: Vec<_> = edges
            .iter()
            .map(|e| {
                (
                    e.sequence_id,
                    e.released,
                    e.start_node_id.as_str(),
                    e.end_node_id.as_str(),
                )
            })
            .collect();
        assert_eq!(
            eseqs,
            [
                (7, true, "n0", "n1"),
                (9, false, "n1", "n2"),
                (11, false, "n2", "n3")
            ]
        );
        assert!(nodes[..3].iter().all(|n| n.actions.is_empty()));
        assert_eq!(nodes[3].actions[0].action_id, "a1");
    }
}
