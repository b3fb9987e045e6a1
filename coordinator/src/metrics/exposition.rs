//! Writing gauges computed at scrape time in the Prometheus text format.
//! They describe the present (queue lengths, live workers), so they are
//! read fresh from the dispatcher and the database on every scrape rather
//! than kept in the recorder, where a series that disappeared (a tag set no
//! longer queued) would linger with its last value.

use std::fmt::Write;

/// One sample: its labels and its value.
pub type Sample<'a> = (Vec<(&'a str, String)>, f64);

/// Accumulates gauge families as exposition text.
#[derive(Debug, Default)]
pub struct GaugeWriter {
    out: String,
}

impl GaugeWriter {
    /// Writes one gauge family without labels.
    pub fn single(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, help, vec![(Vec::new(), value)]);
    }

    /// Writes one gauge family: `# HELP`, `# TYPE` and one line per sample.
    pub fn family(&mut self, name: &str, help: &str, samples: Vec<Sample<'_>>) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} gauge");
        for (labels, value) in samples {
            self.out.push_str(name);
            if !labels.is_empty() {
                self.out.push('{');
                for (i, (key, value)) in labels.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    let _ = write!(self.out, "{key}=\"{}\"", escape_label(value));
                }
                self.out.push('}');
            }
            let _ = writeln!(self.out, " {value}");
        }
        self.out.push('\n');
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.out
    }
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::GaugeWriter;

    #[test]
    fn writes_families_with_escaped_labels() {
        let mut writer = GaugeWriter::default();
        writer.single("a_gauge", "Help with \\ and\nnewline.", 3.0);
        writer.family(
            "b_gauge",
            "B.",
            vec![
                (vec![("tags", "gpu,\"x\"".to_owned())], 1.5),
                (
                    vec![("tags", String::new()), ("mode", "fanout".into())],
                    0.0,
                ),
            ],
        );
        assert_eq!(
            writer.finish(),
            "# HELP a_gauge Help with \\\\ and\\nnewline.\n# TYPE a_gauge gauge\na_gauge 3\n\n\
             # HELP b_gauge B.\n# TYPE b_gauge gauge\nb_gauge{tags=\"gpu,\\\"x\\\"\"} 1.5\n\
             b_gauge{tags=\"\",mode=\"fanout\"} 0\n\n"
        );
    }
}
