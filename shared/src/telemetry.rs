//! Logging set-up for every binary: JSON lines on Lambda (CloudWatch), readable text locally;
//! the level comes from `RUST_LOG` (default `info`, or the caller's quieter default for
//! commands that draw their own output).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber (a second call is a no-op).
pub fn init(format: LogFormat) {
    init_with_default(format, "info");
}

/// Installs the global subscriber with `level` unless `RUST_LOG` says otherwise.
pub fn init_with_default(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}
