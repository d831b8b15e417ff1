//! Function processes as a consumer group runs them: the real binaries with their
//! environment, their metrics read over HTTP, killed with SIGKILL; records sent to a chosen
//! partition as the functions publish them.

use std::time::Duration;

use cloudevents::binding::rdkafka::{FutureRecordExt, MessageRecord};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use crate::proc::{free_port, Proc};
use crate::{eventually, http_get, kafka};

/// A function process and its port.
pub struct Function {
    pub proc: Proc,
    pub port: u16,
}

pub fn spawn(bin: &str, env: &[(&'static str, String)]) -> Function {
    let port = free_port();
    let mut env: Vec<(&str, String)> = env.to_vec();
    env.push(("PORT", port.to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Function {
        proc: Proc::spawn(bin, &env),
        port,
    }
}

impl Function {
    /// Events this process has taken from its consumer, whatever their outcome.
    pub async fn events(&self) -> u64 {
        self.counter("tickermesh_events_total", "").await
    }

    /// The sum of a counter's series whose labels include `label` (`outcome="sent"`; "": all).
    pub async fn counter(&self, name: &str, label: &str) -> u64 {
        let metrics = http_get(([127, 0, 0, 1], self.port).into(), "/metrics").await;
        let series = format!("{name}{{");
        metrics
            .lines()
            .filter(|l| l.starts_with(&series) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    pub fn kill(&mut self) {
        // std's kill is SIGKILL: no shutdown, no commit, no leaving the group.
        self.proc.child.kill().expect("SIGKILL");
        let _ = self.proc.child.wait();
    }
}

pub async fn healthy(f: &Function) {
    let port = f.port;
    eventually(Duration::from_secs(60), "/healthz", || async move {
        let ok = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success());
        ok.then_some(())
    })
    .await;
}

/// Sends a CloudEvent to one partition of `topic` (binary mode, as the functions publish).
pub async fn send(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    key: &str,
    event: cloudevents::Event,
) {
    let record = MessageRecord::from_event(event).expect("a record");
    let future = FutureRecord::<str, Vec<u8>>::to(topic)
        .partition(partition)
        .key(key)
        .message_record(&record);
    producer
        .send(future, Timeout::After(Duration::from_secs(10)))
        .await
        .unwrap_or_else(|(e, _)| panic!("the broker at {} took no record: {e}", kafka::brokers()));
}
