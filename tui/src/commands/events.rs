//! `panctl events`: follows the manager's state-change events, printing
//! each as it arrives (one line, or one compact JSON object per line), until
//! `--count` events were printed or the command is interrupted.
//!
//! JSON (one per line): `{"index", "at_ms", "kind", "object",
//! "partition": "..."|null}`.

use super::Ctx;
use crate::cli::{EventsArgs, Format};
use crate::error::CliError;
use crate::output::{self, opt};
use crate::units::format_time_ms;
use pan_api::v1::{Event, WatchEventsRequest};
use serde::Serialize;
use std::error::Error as _;

/// One event as printed.
#[derive(Debug, Serialize)]
pub struct EventView {
    pub index: u64,
    pub at_ms: u64,
    /// e.g. `server.created`.
    pub kind: String,
    /// e.g. `server/acme/web-1`.
    pub object: String,
    /// `null` for fabric-wide objects.
    pub partition: Option<String>,
}

impl From<&Event> for EventView {
    fn from(e: &Event) -> Self {
        EventView {
            index: e.index,
            at_ms: e.at_ms,
            kind: e.kind.clone(),
            object: e.object.clone(),
            partition: opt(&e.partition),
        }
    }
}

/// The line printed for one event.
pub fn event_line(format: Format, event: &EventView) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string(event)?,
        Format::Table => {
            let partition = event
                .partition
                .as_ref()
                .map(|p| format!("  (partition {p})"))
                .unwrap_or_default();
            let line = format!(
                "{}  #{:<6}  {:<20}  {}{partition}",
                format_time_ms(event.at_ms),
                event.index,
                event.kind,
                event.object
            );
            output::clean_cell(line.trim_end())
        }
    })
}

/// Runs `panctl events`.
pub async fn run(args: EventsArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let mut stream = ctx
        .manager
        .call(WatchEventsRequest {}, |mut c, r| async move {
            c.watch_events(r).await
        })
        .await?;
    let mut printed = 0u64;
    while args.count.is_none_or(|count| printed < count) {
        let addr = ctx.manager.current_addr().to_string();
        match stream.message().await {
            Ok(Some(event)) => {
                ctx.print(&event_line(ctx.format, &EventView::from(&event))?)?;
                printed += 1;
            }
            Ok(None) => return Err(CliError::StreamEnded { addr }.into()),
            // Made here from a transport error: the connection broke.
            Err(status) if status.source().is_some() => {
                return Err(CliError::StreamEnded { addr }.into());
            }
            Err(status) => return Err(CliError::Api { addr, status }.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(partition: &str) -> Event {
        Event {
            index: 42,
            at_ms: 1_748_779_200_000,
            kind: "server.created".into(),
            object: "server/acme/web-1".into(),
            partition: partition.into(),
        }
    }

    #[test]
    fn events_print_one_json_object_per_line() {
        let line = event_line(Format::Json, &EventView::from(&event("acme"))).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&line).unwrap(),
            json!({
                "index": 42,
                "at_ms": 1_748_779_200_000u64,
                "kind": "server.created",
                "object": "server/acme/web-1",
                "partition": "acme"
            })
        );
        let line = event_line(Format::Json, &EventView::from(&event(""))).unwrap();
        assert!(line.ends_with(r#""partition":null}"#), "{line}");
    }

    #[test]
    fn events_print_one_line_in_table_mode() {
        assert_eq!(
            event_line(Format::Table, &EventView::from(&event("acme"))).unwrap(),
            "2025-06-01T12:00:00Z  #42      server.created        server/acme/web-1  (partition acme)"
        );
    }
}
