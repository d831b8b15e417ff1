//! Container entry point of the notify function: alerts in (Kafka consumer group and/or
//! CloudEvents over HTTP), e-mails out through SMTP.

use std::process::ExitCode;
use std::sync::Arc;

use tickermesh_core::config::{ConfigError, FunctionConfig};
use tickermesh_core::events::DEFAULT_ALERTS_TOPIC;
use tickermesh_core::kafka::KafkaSettings;
use tickermesh_core::server::event::{run_event_function, startup_failed, Consume};
use tickermesh_core::store::Store;
use tickermesh_notify::{MailSettings, Mailer, Notifier};

const NAME: &str = "tickermesh-notify";

#[tokio::main]
async fn main() -> ExitCode {
    tickermesh_core::telemetry::init();
    let config = (|| {
        let function = FunctionConfig::from_env()?;
        let kafka = KafkaSettings::from_env()?;
        let consume = Consume::from_env(
            kafka.as_ref(),
            "TICKERMESH_ALERTS_TOPIC",
            DEFAULT_ALERTS_TOPIC,
        )?;
        Ok::<_, ConfigError>((function, consume, MailSettings::from_env(None)?))
    })();
    let (function, consume, mail) = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            return ExitCode::from(2);
        }
    };
    let store = match Store::connect(&function.database_url, &function.store).await {
        Ok(s) => s,
        Err(e) => return startup_failed(NAME, "cannot open the database", &e),
    };
    let mailer = match Mailer::new(&mail.transport) {
        Ok(m) => m,
        Err(e) => return startup_failed(NAME, "cannot set up e-mail", &e),
    };
    let notifier = Arc::new(Notifier::new(store, mailer, mail.from));
    let app = tickermesh_notify::router(notifier.clone());
    run_event_function(NAME, &function, notifier, app, consume).await
}
