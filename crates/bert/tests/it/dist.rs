//! c10d through the shim: a TCPStore rendezvous and Gloo collectives between two ranks (two
//! threads of this process, each with its own process group on 127.0.0.1).

use std::time::Duration;

use bert::torch_ext::{GroupOptions, ProcessGroup, ReduceOp};
use tch::Tensor;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn options(rank: usize, port: u16) -> GroupOptions {
    GroupOptions {
        master_addr: "127.0.0.1".into(),
        master_port: port,
        rank,
        world_size: 2,
        timeout: Duration::from_secs(30),
        interface: None,
        bind_host: Some("127.0.0.1".into()),
        threads: 1,
    }
}

#[test]
fn two_ranks_reduce_and_broadcast() {
    let port = free_port();
    let ranks: Vec<_> = (0..2)
        .map(|rank| {
            std::thread::spawn(move || {
                let pg = ProcessGroup::new(&options(rank, port)).unwrap();
                assert_eq!((pg.rank(), pg.world_size()), (rank, 2));
                let r = rank as f32;
                let a = Tensor::from_slice(&[1.0 + r, 10.0 * r, -r]);
                let b = Tensor::from_slice(&[r; 5]);
                pg.all_reduce(&[&a, &b], ReduceOp::Sum).unwrap();
                let max = Tensor::from_slice(&[r, -r]);
                pg.all_reduce(&[&max], ReduceOp::Max).unwrap();
                let c = Tensor::from_slice(&[7.0 * (r + 1.0); 3]);
                pg.broadcast(&[&c], 1).unwrap();
                (
                    Vec::<f32>::try_from(&a).unwrap(),
                    Vec::<f32>::try_from(&b).unwrap(),
                    Vec::<f32>::try_from(&max).unwrap(),
                    Vec::<f32>::try_from(&c).unwrap(),
                )
            })
        })
        .collect();
    for handle in ranks {
        let (a, b, max, c) = handle.join().unwrap();
        assert_eq!(a, vec![3.0, 10.0, -1.0]);
        assert_eq!(b, vec![1.0; 5]);
        assert_eq!(max, vec![1.0, 0.0]);
        assert_eq!(c, vec![14.0; 3]);
    }
}

/// A rank whose peer never comes fails within the timeout, naming what it was doing.
#[test]
fn a_missing_peer_times_out_with_a_clear_error() {
    let port = free_port();
    let opts = GroupOptions {
        timeout: Duration::from_secs(2),
        ..options(0, port)
    };
    let clock = std::time::Instant::now();
    let err = ProcessGroup::new(&opts).unwrap_err().to_string();
    assert!(
        clock.elapsed() < Duration::from_secs(20),
        "{:?}",
        clock.elapsed()
    );
    assert!(err.contains("rank 0 of 2"), "{err}");
}
