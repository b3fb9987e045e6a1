//! Reading a followed task's output: the Server-Sent Events of
//! `GET /api/v1/tasks/{id}/output?follow=true`, one event at a time.

use std::time::Duration;

use crate::output::FollowEvent;

use super::ClientError;

/// The coordinator says something (an event or a keep-alive comment) at
/// least every 15 s; silence this long means the connection is dead.
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);

/// Longest event this reader accepts; the coordinator's are far shorter.
const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// A followed output stream.
#[derive(Debug)]
pub struct OutputFollower {
    response: reqwest::Response,
    /// Received bytes not yet read as whole lines.
    pending: Vec<u8>,
    /// The event being read: its name and data lines so far.
    name: String,
    data: String,
    ended: bool,
}

impl OutputFollower {
    pub(super) fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            pending: Vec::new(),
            name: String::new(),
            data: String::new(),
            ended: false,
        }
    }

    /// The next event; `None` once the stream has ended (after the
    /// [`FollowEvent::End`] event, or when the coordinator closed it
    /// without one, on losing its lead, say: follow again then).
    pub async fn next(&mut self) -> Result<Option<FollowEvent>, ClientError> {
        loop {
            if self.ended {
                return Ok(None);
            }
            while let Some(line) = self.line() {
                if let Some(event) = self.take_line(&line)? {
                    if matches!(event, FollowEvent::End(_)) {
                        self.ended = true;
                    }
                    return Ok(Some(event));
                }
            }
            if self.pending.len() > MAX_EVENT_BYTES {
                return Err(ClientError::Unexpected {
                    status: self.response.status(),
                    text: "an output event too long to read".to_owned(),
                });
            }
            let chunk = tokio::time::timeout(IDLE_TIMEOUT, self.response.chunk())
                .await
                .map_err(|_| ClientError::Unexpected {
                    status: self.response.status(),
                    text: format!(
                        "the output stream was silent for {}s",
                        IDLE_TIMEOUT.as_secs()
                    ),
                })??;
            match chunk {
                Some(bytes) => self.pending.extend_from_slice(&bytes),
                None => self.ended = true,
            }
        }
    }

    /// The next whole line received, without its end.
    fn line(&mut self) -> Option<String> {
        let end = self.pending.iter().position(|&b| b == b'\n')?;
        let mut line: Vec<u8> = self.pending.drain(..=end).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(String::from_utf8_lossy(&line).into_owned())
    }

    /// Reads one line of the event stream; a blank line completes an event.
    fn take_line(&mut self, line: &str) -> Result<Option<FollowEvent>, ClientError> {
        if line.is_empty() {
            let name = std::mem::take(&mut self.name);
            let data = std::mem::take(&mut self.data);
            if name.is_empty() && data.is_empty() {
                return Ok(None);
            }
            return match FollowEvent::parse(&name, &data) {
                None => Ok(None),
                Some(Ok(event)) => Ok(Some(event)),
                Some(Err(e)) => Err(ClientError::Unexpected {
                    status: self.response.status(),
                    text: format!("an output event that does not read ({e}): {data}"),
                }),
            };
        }
        // Comments (keep-alives) start with a colon; `id:` and `retry:` are
        // for browsers reconnecting.
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => value.clone_into(&mut self.name),
            "data" => {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(value);
            }
            _ => {}
        }
        Ok(None)
    }
}
