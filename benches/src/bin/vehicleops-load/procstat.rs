//! CPU time and resident memory of processes from `/proc` (Linux). A monitored process counts
//! with all its descendants, so PostgreSQL's per-connection backends are charged to it.

use std::collections::HashMap;
use std::fs;

/// Clock ticks per second of `/proc/*/stat` times (`getconf CLK_TCK`; 100 on every Linux this
/// runs on).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user + system) and RSS bytes of a process tree at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

/// `(ppid, cpu ticks)` of one process from its `stat` line. The command name may contain
/// spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) … utime(11) stime(12).
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// `VmRSS` of a `status` file, in bytes.
fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Every live process: pid → (ppid, cpu ticks).
fn processes() -> HashMap<u32, (u32, u64)> {
    let mut out = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat"))
            && let Some(p) = parse_stat(&stat)
        {
            out.insert(pid, p);
        }
    }
    out
}

/// Usage of each root's process tree, in the order given; `None` for a root that is gone.
pub fn sample(roots: &[u32]) -> Vec<Option<Usage>> {
    let all = processes();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &(ppid, _)) in &all {
        children.entry(ppid).or_default().push(pid);
    }
    roots
        .iter()
        .map(|&root| {
            all.get(&root)?;
            let mut usage = Usage::default();
            let mut stack = vec![root];
            while let Some(pid) = stack.pop() {
                if let Some(&(_, ticks)) = all.get(&pid) {
                    usage.cpu_seconds += ticks as f64 / TICKS_PER_SECOND;
                    usage.rss_bytes += fs::read_to_string(format!("/proc/{pid}/status"))
                        .ok()
                        .and_then(|s| parse_rss(&s))
                        .unwrap_or(0);
                }
                stack.extend(children.get(&pid).into_iter().flatten());
            }
            Some(usage)
        })
        .collect()
}

/// The Kafka broker listening on `port`: a `kafka.Kafka` JVM whose properties file names it.
pub fn find_kafka_broker(port: u16) -> Option<u32> {
    let needle = format!(":{port}");
    for (pid, _) in processes() {
        let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if !args.iter().any(|a| a == "kafka.Kafka") {
            continue;
        }
        let listens_there = args
            .last()
            .and_then(|props| fs::read_to_string(props).ok())
            .is_some_and(|p| {
                p.lines()
                    .any(|l| l.starts_with("listeners=") && l.contains(&needle))
            });
        if listens_there {
            return Some(pid);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "1234 (tokio (rt) x) S 42 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1 0 0";
        assert_eq!(parse_stat(stat), Some((42, 300)));
    }

    #[test]
    fn rss_is_read_in_bytes() {
        let status = "Name:\tx\nVmPeak:\t 9 kB\nVmRSS:\t    2048 kB\nThreads: 3\n";
        assert_eq!(parse_rss(status), Some(2 * 1024 * 1024));
    }

    #[test]
    fn this_process_is_sampled() {
        let me = std::process::id();
        let usage = sample(&[me])[0].expect("own process");
        assert!(usage.rss_bytes > 0);
    }
}
