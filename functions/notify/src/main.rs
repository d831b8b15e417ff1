//! Container entry point of the notify function: alerts in (Kafka consumer group and/or
//! CloudEvents over HTTP), e-mails out through SMTP.

use std::process::ExitCode;
use std::sync::Arc;

use tickermesh_core::config::{ConfigError, KafkaSettings};
use tickermesh_core::events::DEFAULT_ALERTS_TOPIC;
use tickermesh_core::server::event::{run_event_function, Consume, EventFunction};
use tickermesh_core::server::startup_failed;
use tickermesh_notify::{MailSettings, Mailer, Notifier};

const NAME: &str = "tickermesh-notify";

fn config() -> Result<(Option<Consume>, MailSettings), ConfigError> {
    let kafka = KafkaSettings::from_env()?;
    let consume = Consume::from_env(
        kafka.as_ref(),
        "TICKERMESH_ALERTS_TOPIC",
        DEFAULT_ALERTS_TOPIC,
    )?;
    Ok((consume, MailSettings::from_env(None)?))
}

#[tokio::main]
async fn main() -> ExitCode {
    run_event_function(NAME, config, |store, (consume, mail)| async move {
        let mailer = Mailer::new(&mail.transport)
            .map_err(|e| startup_failed(NAME, "cannot set up e-mail", &e))?;
        let notifier = Arc::new(Notifier::new(store, mailer, mail.from).with_retry(mail.retry));
        Ok(EventFunction {
            app: tickermesh_notify::router(notifier.clone()),
            consume: consume.map(|c| (c, notifier as _)),
        })
    })
    .await
}
