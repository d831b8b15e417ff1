use std::num::NonZeroU32;
use std::time::{Duration, SystemTime};

use reqwest::header::RETRY_AFTER;
use reqwest::{StatusCode, Url};

use super::pace::{retry_after, Pace};
use super::Fetch;
use crate::chart::{self, ChartQuote};

/// Yahoo blocks obvious bots; it serves the chart API to a browser-like User-Agent.
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                          Chrome/126.0 Safari/537.36";

#[derive(Debug, Clone)]
pub struct YahooConfig {
    pub base_url: Url,
    pub timeout: Duration,
    /// Requests per second at most.
    pub rate_limit: NonZeroU32,
}

pub struct Yahoo {
    http: reqwest::Client,
    config: YahooConfig,
    pace: Pace,
}

impl Yahoo {
    pub fn new(config: YahooConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(config.timeout)
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Self {
            pace: Pace::new(config.rate_limit),
            http,
            config,
        })
    }

    fn url(&self, ticker: &str) -> Url {
        let mut url = self.config.base_url.clone();
        // Tickers hold only letters, digits and `. - ^ =`; of those only `^` must be escaped
        // in a path (Yahoo's own pages ask for `%5EGSPC`).
        let path = format!(
            "{}/v8/finance/chart/{}",
            url.path().trim_end_matches('/'),
            ticker.replace('^', "%5E")
        );
        url.set_path(&path);
        url.query_pairs_mut()
            .append_pair("interval", "1d")
            .append_pair("range", "1d");
        url
    }

    pub async fn fetch(&self, ticker: &str) -> Fetch {
        self.pace.ready().await;
        let response = match self.http.get(self.url(ticker)).send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Fetch::UpstreamError("timeout".into()),
            Err(e) => return Fetch::UpstreamError(format!("request failed: {e}")),
        };
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let header = response.headers().get(RETRY_AFTER);
            let pause = retry_after(header.and_then(|v| v.to_str().ok()), SystemTime::now());
            self.pace.pause(pause);
            return Fetch::UpstreamError(format!("HTTP {status}, paused for {pause:?}"));
        }
        if status.is_server_error() {
            return Fetch::UpstreamError(format!("HTTP {status}"));
        }
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) if e.is_timeout() => return Fetch::UpstreamError("timeout".into()),
            Err(e) => return Fetch::UpstreamError(format!("reading the body failed: {e}")),
        };
        if !(status.is_success() || status == StatusCode::NOT_FOUND) {
            return Fetch::UpstreamError(format!("HTTP {status}"));
        }
        match chart::parse(&body) {
            Ok(ChartQuote::Price {
                price,
                currency,
                market_time_ms,
                previous_close,
            }) => Fetch::Quote {
                price,
                currency,
                market_time_ms,
                previous_close,
            },
            Ok(ChartQuote::NotFound) => Fetch::NotFound,
            Ok(ChartQuote::NoPrice) => Fetch::NoPrice,
            Err(e) => Fetch::UpstreamError(format!("HTTP {status}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_escaped_in_the_path() {
        let y = Yahoo::new(YahooConfig {
            base_url: Url::parse("http://127.0.0.1:9/").unwrap(),
            timeout: Duration::from_secs(1),
            rate_limit: NonZeroU32::MIN,
        })
        .unwrap();
        assert_eq!(
            y.url("^GSPC").as_str(),
            "http://127.0.0.1:9/v8/finance/chart/%5EGSPC?interval=1d&range=1d"
        );
        assert_eq!(y.url("EURUSD=X").path(), "/v8/finance/chart/EURUSD=X");
    }
}
