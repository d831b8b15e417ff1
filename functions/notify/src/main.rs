//! Container entry point of the notify function: alerts in (Kafka consumer group and/or
//! CloudEvents over HTTP), e-mails out through SMTP.

use std::process::ExitCode;
use std::sync::Arc;

use tickermesh_core::config::{FunctionConfig, KafkaSettings};
use tickermesh_core::events::DEFAULT_ALERTS_TOPIC;
use tickermesh_core::server::event::{open_store, run_event_function, Consume};
use tickermesh_core::server::{configured, startup_failed};
use tickermesh_notify::{MailSettings, Mailer, Notifier};

const NAME: &str = "tickermesh-notify";

#[tokio::main]
async fn main() -> ExitCode {
    run().await.unwrap_or_else(|code| code)
}

async fn run() -> Result<ExitCode, ExitCode> {
    tickermesh_core::telemetry::init();
    let (function, consume, mail) = configured(
        NAME,
        (|| {
            let kafka = KafkaSettings::from_env()?;
            let consume = Consume::from_env(
                kafka.as_ref(),
                "TICKERMESH_ALERTS_TOPIC",
                DEFAULT_ALERTS_TOPIC,
            )?;
            Ok((
                FunctionConfig::from_env()?,
                consume,
                MailSettings::from_env(None)?,
            ))
        })(),
    )?;
    let store = open_store(NAME, &function).await?;
    let mailer = Mailer::new(&mail.transport)
        .map_err(|e| startup_failed(NAME, "cannot set up e-mail", &e))?;
    let notifier = Arc::new(Notifier::new(store, mailer, mail.from));
    let app = tickermesh_notify::router(notifier.clone());
    Ok(run_event_function(NAME, &function, notifier, app, consume).await)
}
