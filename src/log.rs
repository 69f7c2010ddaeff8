//! One JSON object per log line, pino-style (`level` as pino's numbers, `time` in ms, `msg`).

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 20,
    Info = 30,
    Warn = 40,
    Error = 50,
}

impl Level {
    /// `LOG_LEVEL`'s values.
    pub fn parse(name: &str) -> Option<Level> {
        match name {
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warn" => Some(Level::Warn),
            "error" => Some(Level::Error),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub level: Level,
    pub msg: String,
    pub fields: Map<String, Value>,
}

impl Line {
    pub fn new(level: Level, msg: impl Into<String>) -> Self {
        Line {
            level,
            msg: msg.into(),
            fields: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    pub fn with_opt(self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    pub fn render(&self, time_ms: u64) -> String {
        let mut m = Map::new();
        m.insert("level".into(), (self.level as u8).into());
        m.insert("time".into(), time_ms.into());
        m.insert("msg".into(), self.msg.clone().into());
        for (k, v) in &self.fields {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_json_object() {
        let s = Line::new(Level::Warn, "kicked")
            .with("userId", "u1")
            .with_opt("sid", None)
            .render(5);
        assert_eq!(s, r#"{"level":40,"time":5,"msg":"kicked","userId":"u1"}"#);
    }
}
