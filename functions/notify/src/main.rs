//! Container entry point of the notify function: alerts in (Kafka consumer group and/or
//! CloudEvents over HTTP), e-mails out through SMTP.

use std::process::ExitCode;
use std::sync::Arc;

use tickermesh_core::config::{ConfigError, KafkaSettings};
use tickermesh_core::events::DEFAULT_ALERTS_TOPIC;
use tickermesh_core::server::event::{run_event_function, Consume, EventFunction};
use tickermesh_core::server::startup_failed;
use tickermesh_core::signing::SigningKey;
use tickermesh_notify::{LinkSettings, MailSettings, Mailer, Notifier};

const NAME: &str = "tickermesh-notify";

/// notify's own settings: its input, the mail server, and the signing key with the public URL
/// (access codes, unsubscribe links).
struct Config {
    consume: Option<Consume>,
    mail: MailSettings,
    key: SigningKey,
    links: Option<LinkSettings>,
}

fn config() -> Result<Config, ConfigError> {
    let kafka = KafkaSettings::from_env()?;
    let consume = Consume::from_env(
        kafka.as_ref(),
        "TICKERMESH_ALERTS_TOPIC",
        DEFAULT_ALERTS_TOPIC,
    )?;
    Ok(Config {
        consume,
        mail: MailSettings::from_env(None)?,
        key: SigningKey::from_env()?,
        links: LinkSettings::from_env()?,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    run_event_function(NAME, config, |store, config| async move {
        let Config {
            consume,
            mail,
            key,
            links,
        } = config;
        let mailer = Mailer::new(&mail.transport)
            .map_err(|e| startup_failed(NAME, "cannot set up e-mail", &e))?;
        let notifier = Notifier::new(store, mailer, mail.from)
            .with_retry(mail.retry)
            .with_lease(mail.lease)
            .with_concurrency(mail.concurrency)
            .with_access(key, links);
        let notifier = Arc::new(notifier);
        Ok(EventFunction {
            app: tickermesh_notify::router(notifier.clone()),
            consume: consume.map(|c| (c, notifier as _)),
        })
    })
    .await
}
