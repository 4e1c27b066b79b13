//! A container's resource usage (`GET /containers/{id}/stats`), reduced to what `docker stats`
//! shows: CPU share since the engine's previous sample, memory without the page cache, network
//! and block I/O totals, process count. The reduction is pure ([`usage_of`]).

use bollard::models::ContainerStatsResponse;
use futures_util::StreamExt;

use crate::{Engine, EngineError};

/// One sample of a container's usage, as `docker stats` computes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// Percent of one CPU times the CPUs online (400% is four CPUs busy).
    pub cpu_percent: f64,
    pub memory: u64,
    pub memory_limit: u64,
    pub memory_percent: f64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
}

/// The usage a stats answer shows (the docker CLI's arithmetic for Linux containers).
pub fn usage_of(stats: &ContainerStatsResponse) -> Usage {
    let cpu = stats.cpu_stats.clone().unwrap_or_default();
    let pre = stats.precpu_stats.clone().unwrap_or_default();
    let total = |c: &bollard::models::ContainerCpuStats| {
        c.cpu_usage
            .as_ref()
            .and_then(|u| u.total_usage)
            .unwrap_or(0)
    };
    let cpu_delta = total(&cpu) as f64 - total(&pre) as f64;
    let system_delta =
        cpu.system_cpu_usage.unwrap_or(0) as f64 - pre.system_cpu_usage.unwrap_or(0) as f64;
    let online = cpu.online_cpus.map(f64::from).unwrap_or_else(|| {
        cpu.cpu_usage
            .as_ref()
            .and_then(|u| u.percpu_usage.as_ref())
            .map_or(0.0, |p| p.len() as f64)
    });
    let cpu_percent = if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    };
    let memory_stats = stats.memory_stats.clone().unwrap_or_default();
    let usage = memory_stats.usage.unwrap_or(0);
    // The page cache is not the container's: cgroup v1 reports it as total_inactive_file,
    // v2 as inactive_file.
    let cache = memory_stats.stats.as_ref().and_then(|s| {
        s.get("total_inactive_file")
            .or_else(|| s.get("inactive_file"))
            .copied()
    });
    let memory = match cache {
        Some(c) if c < usage => usage - c,
        _ => usage,
    };
    let memory_limit = memory_stats.limit.unwrap_or(0);
    let memory_percent = if memory_limit > 0 {
        memory as f64 / memory_limit as f64 * 100.0
    } else {
        0.0
    };
    let (mut net_rx, mut net_tx) = (0, 0);
    for n in stats.networks.iter().flat_map(|n| n.values()) {
        net_rx += n.rx_bytes.unwrap_or(0);
        net_tx += n.tx_bytes.unwrap_or(0);
    }
    let (mut block_read, mut block_write) = (0, 0);
    for entry in stats
        .blkio_stats
        .iter()
        .flat_map(|b| b.io_service_bytes_recursive.iter().flatten())
    {
        match entry.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => block_read += entry.value.unwrap_or(0),
            Some("write") => block_write += entry.value.unwrap_or(0),
            _ => {}
        }
    }
    Usage {
        cpu_percent,
        memory,
        memory_limit,
        memory_percent,
        net_rx,
        net_tx,
        block_read,
        block_write,
        pids: stats
            .pids_stats
            .as_ref()
            .and_then(|p| p.current)
            .unwrap_or(0),
    }
}

impl Engine {
    /// One sample of `name`'s usage; the engine waits for a second sample so the CPU share is
    /// measured over that interval.
    pub async fn usage(&self, name: &str) -> Result<Usage, EngineError> {
        let name = crate::ids::container(name)?;
        let options = bollard::query_parameters::StatsOptionsBuilder::default()
            .stream(false)
            .build();
        let mut stream = self.client().stats(name, Some(options));
        match stream.next().await {
            Some(Ok(stats)) => Ok(usage_of(&stats)),
            Some(Err(e)) => Err(EngineError::new(format!("reading the usage of {name}"), e)),
            None => Err(EngineError::message(format!(
                "the engine sent no usage for {name}"
            ))),
        }
    }

    /// `name`'s usage as the engine samples it (about once a second), for as long as the
    /// caller reads and the container exists.
    pub fn usage_stream(
        &self,
        name: &str,
    ) -> Result<futures_util::stream::BoxStream<'static, Result<Usage, EngineError>>, EngineError>
    {
        let name = crate::ids::container(name)?.to_string();
        let options = bollard::query_parameters::StatsOptionsBuilder::default()
            .stream(true)
            .build();
        let samples = self.client().stats(&name, Some(options));
        Ok(samples
            .map(move |sample| {
                sample
                    .map(|s| usage_of(&s))
                    .map_err(|e| EngineError::new(format!("reading the usage of {name}"), e))
            })
            .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ContainerBlkioStatEntry, ContainerBlkioStats, ContainerCpuStats, ContainerCpuUsage,
        ContainerMemoryStats, ContainerNetworkStats, ContainerPidsStats,
    };

    #[test]
    fn usage_is_dockers_arithmetic() {
        let cpu = |total, system| ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage {
                total_usage: Some(total),
                ..Default::default()
            }),
            system_cpu_usage: Some(system),
            online_cpus: Some(2),
            ..Default::default()
        };
        let stats = ContainerStatsResponse {
            cpu_stats: Some(cpu(3_000, 20_000)),
            precpu_stats: Some(cpu(1_000, 10_000)),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(10 << 20),
                limit: Some(100 << 20),
                stats: Some([("inactive_file".to_string(), 5u64 << 20)].into()),
                ..Default::default()
            }),
            networks: Some(
                [("eth0", 100, 10), ("eth1", 1, 2)]
                    .map(|(n, rx, tx)| {
                        (
                            n.to_string(),
                            ContainerNetworkStats {
                                rx_bytes: Some(rx),
                                tx_bytes: Some(tx),
                                ..Default::default()
                            },
                        )
                    })
                    .into(),
            ),
            blkio_stats: Some(ContainerBlkioStats {
                io_service_bytes_recursive: Some(
                    [("Read", 4096), ("write", 8192), ("sync", 1)]
                        .map(|(op, value)| ContainerBlkioStatEntry {
                            op: Some(op.into()),
                            value: Some(value),
                            ..Default::default()
                        })
                        .to_vec(),
                ),
                ..Default::default()
            }),
            pids_stats: Some(ContainerPidsStats {
                current: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        };
        let u = usage_of(&stats);
        assert!((u.cpu_percent - 40.0).abs() < 1e-9, "{u:?}");
        assert_eq!((u.memory, u.memory_limit), (5 << 20, 100 << 20));
        assert!((u.memory_percent - 5.0).abs() < 1e-9);
        assert_eq!((u.net_rx, u.net_tx), (101, 12));
        assert_eq!((u.block_read, u.block_write), (4096, 8192));
        assert_eq!(u.pids, 3);
        assert_eq!(
            usage_of(&ContainerStatsResponse::default()),
            Usage::default()
        );
    }
}
