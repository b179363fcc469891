//! The process group of a data-parallel run: where this process sits ([`Launch`], from the
//! torchrun or Slurm variables), the c10d `TCPStore` rendezvous and Gloo group it joins
//! ([`Dist`], through [`bert::torch_ext::ProcessGroup`]), and the gather of dev outputs
//! sharded over the ranks ([`sharded_infer`]). The layer below the training loop, which
//! adds its own collectives (gradients, flags, checksums); starting and running ranks sits
//! above the loop, in `distributed`.

use std::time::{Duration, Instant};

use bert::torch_ext::{GroupOptions, ProcessGroup};

use crate::error::{Result, TrainError};

/// Where this process sits in a data-parallel run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Global rank (`RANK`).
    pub rank: usize,
    /// Number of processes (`WORLD_SIZE`).
    pub world_size: usize,
    /// Rank on this machine (`LOCAL_RANK`): picks the CUDA device.
    pub local_rank: usize,
    /// Processes on this machine (`LOCAL_WORLD_SIZE`).
    pub local_world_size: usize,
    /// Address of rank 0 (`MASTER_ADDR`).
    pub master_addr: String,
    /// Port of rank 0's rendezvous (`MASTER_PORT`).
    pub master_port: u16,
}

fn parse_var<T: std::str::FromStr>(
    get: &dyn Fn(&str) -> Option<String>,
    key: &str,
) -> Result<Option<T>> {
    match get(key) {
        None => Ok(None),
        Some(text) => text.trim().parse().map(Some).map_err(|_| {
            TrainError::Distributed(format!(
                "environment variable {key}={text:?}: expected a non-negative integer"
            ))
        }),
    }
}

impl Launch {
    /// The launch described by this process's environment; `None` for a single process
    /// (no launcher variables, or a world of one).
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_vars(&|key| std::env::var(key).ok())
    }

    /// [`Self::from_env`] over any variable lookup (for tests).
    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let torchrun = get("WORLD_SIZE").is_some();
        let (rank_key, world_key, local_key, local_world_key) = if torchrun {
            ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
        } else if get("SLURM_NTASKS").is_some() && get("SLURM_PROCID").is_some() {
            (
                "SLURM_PROCID",
                "SLURM_NTASKS",
                "SLURM_LOCALID",
                "SLURM_NTASKS_PER_NODE",
            )
        } else {
            return Ok(None);
        };
        let world: usize = parse_var(get, world_key)?.unwrap_or(1);
        if world <= 1 {
            return Ok(None);
        }
        let rank: usize = parse_var(get, rank_key)?.ok_or_else(|| {
            TrainError::Distributed(format!("{world_key}={world} but {rank_key} is not set"))
        })?;
        if rank >= world {
            return Err(TrainError::Distributed(format!(
                "{rank_key}={rank} is not below {world_key}={world}"
            )));
        }
        let local_rank = parse_var(get, local_key)?.unwrap_or(rank);
        // Slurm writes e.g. `2(x3)` for heterogeneous layouts; take the leading count.
        let local_world = get(local_world_key)
            .and_then(|v| {
                v.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(world);
        let master_addr = get("MASTER_ADDR").ok_or_else(|| {
            TrainError::Distributed(format!(
                "{world_key}={world} but MASTER_ADDR is not set (the address of rank 0; under Slurm export it in the job script, e.g. the first host of `scontrol show hostnames`)"
            ))
        })?;
        let master_port = parse_var(get, "MASTER_PORT")?.unwrap_or(29500);
        Ok(Some(Self {
            rank,
            world_size: world,
            local_rank,
            local_world_size: local_world,
            master_addr,
            master_port,
        }))
    }

    /// The torchrun variables of this launch (what a spawned worker gets).
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("RANK", self.rank.to_string()),
            ("WORLD_SIZE", self.world_size.to_string()),
            ("LOCAL_RANK", self.local_rank.to_string()),
            ("LOCAL_WORLD_SIZE", self.local_world_size.to_string()),
            ("MASTER_ADDR", self.master_addr.clone()),
            ("MASTER_PORT", self.master_port.to_string()),
        ]
    }
}

/// A joined process group and this process's place in it.
#[derive(Debug)]
pub struct Dist {
    /// The c10d group.
    pub pg: ProcessGroup,
    /// The launch it was joined with.
    pub launch: Launch,
}

impl Dist {
    /// Joins the group of `launch`, waiting up to `timeout` for every rank.
    pub fn join(launch: &Launch, timeout: Duration) -> Result<Self> {
        let loopback = matches!(
            launch.master_addr.as_str(),
            "127.0.0.1" | "localhost" | "::1"
        );
        let opts = GroupOptions {
            master_addr: launch.master_addr.clone(),
            master_port: launch.master_port,
            rank: launch.rank,
            world_size: launch.world_size,
            timeout,
            interface: std::env::var("GLOO_SOCKET_IFNAME")
                .ok()
                .filter(|s| !s.is_empty()),
            // On one machine bind to loopback; across machines to the host name's address.
            bind_host: loopback.then(|| "127.0.0.1".to_string()),
            threads: 2,
        };
        let clock = Instant::now();
        let pg = ProcessGroup::new(&opts).map_err(|e| {
            TrainError::Distributed(format!(
                "rank {}: {e} (waited {:.0} s; are all {} ranks started with the same MASTER_ADDR/MASTER_PORT?)",
                launch.rank,
                clock.elapsed().as_secs_f64(),
                launch.world_size
            ))
        })?;
        tracing::info!(
            rank = launch.rank,
            world_size = launch.world_size,
            master = format!("{}:{}", launch.master_addr, launch.master_port),
            "joined the process group (gloo)"
        );
        Ok(Self {
            pg,
            launch: launch.clone(),
        })
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.launch.rank
    }

    /// Number of processes.
    pub fn world_size(&self) -> usize {
        self.launch.world_size
    }
}

/// Runs the model over this rank's contiguous shard of `windows` and gathers every shard's
/// outputs to rank 0, in the order of `windows` (`None` on the other ranks). The outputs
/// travel as one f64 buffer per rank (exact for word indices and f32 probabilities), placed
/// in a zero buffer of the total size and summed across ranks: an all-gather of unequal
/// sizes with one all-reduce for the sizes and one for the data.
pub fn sharded_infer(
    dist: &Dist,
    model: &bert::BertClassifier,
    windows: &[tokenize::Window],
    opts: &infer::InferOptions,
) -> Result<Option<Vec<infer::WindowOutput>>> {
    let (rank, world) = (dist.rank(), dist.world_size());
    let shard = |r: usize| r * windows.len() / world..(r + 1) * windows.len() / world;
    let outputs = infer::infer(model, &windows[shard(rank)], opts)?;
    let mut mine: Vec<f64> = Vec::new();
    for out in &outputs {
        let cols = out.probs.first().map_or(0, Vec::len);
        mine.extend([out.words.len() as f64, out.probs.len() as f64, cols as f64]);
        mine.extend(out.words.iter().map(|&w| f64::from(w)));
        mine.extend(out.probs.iter().flatten().map(|&p| f64::from(p)));
    }
    let sizes = tch::Tensor::zeros([world as i64], (tch::Kind::Double, tch::Device::Cpu));
    let _ = sizes.get(rank as i64).fill_(mine.len() as f64);
    let comm = |e: bert::BertError| TrainError::Distributed(format!("gathering dev outputs: {e}"));
    dist.pg
        .all_reduce(&[&sizes], bert::torch_ext::ReduceOp::Sum)
        .map_err(comm)?;
    let sizes: Vec<usize> = Vec::<f64>::try_from(&sizes)
        .map_err(TrainError::torch("reading shard sizes"))?
        .into_iter()
        .map(|s| s as usize)
        .collect();
    let offset: usize = sizes[..rank].iter().sum();
    let total: usize = sizes.iter().sum();
    let mut buffer = vec![0f64; total];
    buffer[offset..offset + mine.len()].copy_from_slice(&mine);
    let buffer = tch::Tensor::from_slice(&buffer);
    dist.pg
        .all_reduce(&[&buffer], bert::torch_ext::ReduceOp::Sum)
        .map_err(comm)?;
    if rank != 0 {
        return Ok(None);
    }
    let flat = Vec::<f64>::try_from(&buffer).map_err(TrainError::torch("reading dev outputs"))?;
    let mut all = Vec::with_capacity(windows.len());
    let mut at = 0usize;
    for r in 0..world {
        for _ in shard(r) {
            let bad = || TrainError::Distributed("dev outputs of the ranks do not add up".into());
            let head = flat.get(at..at + 3).ok_or_else(bad)?;
            let (n_words, rows, cols) = (head[0] as usize, head[1] as usize, head[2] as usize);
            at += 3;
            let words = flat.get(at..at + n_words).ok_or_else(bad)?;
            at += n_words;
            let probs = flat.get(at..at + rows * cols).ok_or_else(bad)?;
            at += rows * cols;
            all.push(infer::WindowOutput {
                words: words.iter().map(|&w| w as u32).collect(),
                probs: probs
                    .chunks(cols.max(1))
                    .map(|c| c.iter().map(|&p| p as f32).collect())
                    .collect(),
            });
        }
    }
    Ok(Some(all))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(vars: &[(&str, &str)]) -> Result<Option<Launch>> {
        let map: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Launch::from_vars(&|k| map.get(k).cloned())
    }

    #[test]
    fn torchrun_variables_win_and_a_world_of_one_is_no_launch() {
        let l = launch(&[
            ("RANK", "3"),
            ("WORLD_SIZE", "8"),
            ("LOCAL_RANK", "1"),
            ("LOCAL_WORLD_SIZE", "2"),
            ("MASTER_ADDR", "node0"),
            ("MASTER_PORT", "29511"),
            ("SLURM_PROCID", "0"),
            ("SLURM_NTASKS", "4"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (l.rank, l.world_size, l.local_rank, l.local_world_size),
            (3, 8, 1, 2)
        );
        assert_eq!((l.master_addr.as_str(), l.master_port), ("node0", 29511));
        assert_eq!(launch(&[("WORLD_SIZE", "1"), ("RANK", "0")]).unwrap(), None);
        assert_eq!(launch(&[]).unwrap(), None);
    }

    #[test]
    fn slurm_variables_are_mapped_when_torchrun_is_absent() {
        let l = launch(&[
            ("SLURM_PROCID", "5"),
            ("SLURM_NTASKS", "8"),
            ("SLURM_LOCALID", "1"),
            ("SLURM_NTASKS_PER_NODE", "4(x2)"),
            ("MASTER_ADDR", "10.0.0.1"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (
                l.rank,
                l.world_size,
                l.local_rank,
                l.local_world_size,
                l.master_port
            ),
            (5, 8, 1, 4, 29500)
        );
        // Round trip: what a spawned worker gets reads back as the same launch.
        let vars: Vec<(&str, String)> = l.vars();
        let back =
            Launch::from_vars(&|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
                .unwrap();
        assert_eq!(back, Some(l));
    }

    #[test]
    fn bad_launch_variables_are_named() {
        let e = launch(&[("WORLD_SIZE", "2"), ("RANK", "x"), ("MASTER_ADDR", "a")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("RANK=\"x\""), "{e}");
        let e = launch(&[("WORLD_SIZE", "2"), ("RANK", "2"), ("MASTER_ADDR", "a")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not below WORLD_SIZE=2"), "{e}");
        let e = launch(&[("WORLD_SIZE", "2"), ("RANK", "1")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("MASTER_ADDR is not set"), "{e}");
        let e = launch(&[("WORLD_SIZE", "2"), ("MASTER_ADDR", "a")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("RANK is not set"), "{e}");
        let e = launch(&[
            ("WORLD_SIZE", "2"),
            ("RANK", "0"),
            ("MASTER_ADDR", "a"),
            ("MASTER_PORT", "99999"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("MASTER_PORT"), "{e}");
    }
}
