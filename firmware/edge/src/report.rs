//! The one-line error both binaries print.

/// `error`'s chain joined with ": ", leaving out a cause whose text the message before it already
/// ends with (error types that print their source, such as `"{path}: {source}"`, would otherwise
/// say it twice).
pub fn error_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("plan.oar: {source}")]
    struct Io {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_printed_is_left_out() {
        let io = std::io::Error::new(std::io::ErrorKind::InvalidInput, "a FIFO (expected a regular file)");
        let e = anyhow::Error::new(Io { source: io }).context("loading the detector");
        assert_eq!(error_line(&e), "loading the detector: plan.oar: a FIFO (expected a regular file)");
        let plain = anyhow::anyhow!("no such board").context("--board rpi9");
        assert_eq!(error_line(&plain), "--board rpi9: no such board");
    }
}
