//! GLPI Agent's JSON protocol: reading a request, writing the replies.
//!
//! GLPI Agent (1.x) first POSTs a `contact` message
//! (`{"action":"contact","deviceid":…,"name":"GLPI-Agent","version":"1.7",
//! "installed-tasks":[…],"enabled-tasks":[…],"tag":…}`); a server that answers with a `status`
//! and an `expiration` is taken for a GLPI server, and the agent then POSTs its inventory as
//! `{"action":"inventory","deviceid":…,"itemtype":"Computer","content":{…}}`. The content
//! follows glpi-project/inventory_format (`inventory.schema.json`): FusionInventory's sections
//! with lower-case keys. GLPI itself takes a message without `action` (or with the older
//! `query`) for an inventory, and so does [`parse`].
//!
//! Field types are read leniently: the agent sends some numbers as strings (`speed`), and
//! older agents send every value as a string.

use pupitre_core::inventory::InventoryReport;
use serde_json::{Map, Value, json};

use crate::IntakeError;
use crate::sections::{self, Envelope, Record, Sections};

/// What an agent asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GlpiRequest {
    /// The agent announces itself, answered by [`contact_reply`].
    Contact { device_id: String },
    /// A full inventory, answered by [`inventory_reply`].
    Inventory(Box<InventoryReport>),
    /// Another action (`register`, `get_params`, `netinventory`…), as sent.
    Other { action: String },
}

/// Parses one request body (already decompressed).
pub fn parse(json: &[u8]) -> Result<GlpiRequest, IntakeError> {
    let value: Value =
        serde_json::from_slice(json).map_err(|e| IntakeError::Json(e.to_string()))?;
    let Value::Object(message) = value else {
        return Err(protocol("the message is not a JSON object"));
    };
    let action = match (message.get("action"), message.get("query")) {
        (Some(Value::String(action)), _) => action.clone(),
        (Some(_), _) => return Err(protocol("\"action\" is not a string")),
        (None, Some(Value::String(query))) => query.to_ascii_lowercase(),
        (None, _) => "inventory".to_owned(),
    };
    let device_id = match message.get("deviceid") {
        Some(Value::String(id)) if !id.trim().is_empty() => id.trim().to_owned(),
        Some(Value::String(_)) => return Err(protocol("\"deviceid\" is empty")),
        Some(_) => return Err(protocol("\"deviceid\" is not a string")),
        None => return Err(protocol("the message has no \"deviceid\"")),
    };
    match action.as_str() {
        "contact" => Ok(GlpiRequest::Contact { device_id }),
        "inventory" => {
            let content = match message.get("content") {
                Some(Value::Object(content)) => content,
                Some(_) => return Err(protocol("\"content\" is not an object")),
                None => return Err(protocol("the inventory has no \"content\"")),
            };
            let envelope = Envelope {
                device_id,
                source: "glpi-agent",
                agent_version: scalar(content.get("versionclient")).unwrap_or_default(),
            };
            Ok(GlpiRequest::Inventory(Box::new(sections::report(
                envelope,
                &to_sections(content),
            ))))
        }
        _ => Ok(GlpiRequest::Other { action }),
    }
}

/// The answer to `contact`: the agent's next contact is due in `expiration_hours`, and the
/// inventory task is to be sent to this server in GLPI's native format. (The agent treats a
/// reply without a positive `expiration` as coming from a server that is not GLPI.)
pub fn contact_reply(expiration_hours: u32) -> String {
    json!({
        "status": "ok",
        "expiration": expiration_hours,
        "tasks": {"inventory": {"server": "glpi", "version": "10.0"}},
    })
    .to_string()
}

/// The answer to an accepted inventory.
pub fn inventory_reply() -> String {
    json!({"status": "ok"}).to_string()
}

/// The answer to a message that could not be taken; the agent logs `message`.
pub fn error_reply(message: &str) -> String {
    json!({"status": "error", "message": message}).to_string()
}

fn protocol(message: &str) -> IntakeError {
    IntakeError::Protocol(message.to_owned())
}

/// A scalar as text: strings as they are, numbers in JSON notation, booleans as `1`/`0` (as
/// FusionInventory writes them); `null`, arrays and objects have no text.
fn scalar(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Flattens the wanted sections: an object is one record, an array a list of records; keys
/// are upper-cased to FusionInventory's names.
fn to_sections(content: &Map<String, Value>) -> Sections {
    let mut out = Sections::default();
    for (key, value) in content {
        let Some(section) = sections::wanted(&key.to_ascii_uppercase()) else {
            continue;
        };
        let items = match value {
            Value::Array(items) => items.as_slice(),
            item => std::slice::from_ref(item),
        };
        for item in items {
            let Value::Object(fields) = item else {
                continue;
            };
            let mut record = Record::default();
            for (field, value) in fields {
                if let Some(text) = scalar(Some(value)) {
                    record.push(&field.to_ascii_uppercase(), &text);
                }
            }
            out.push(section, record);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use pupitre_core::inventory::{AssetType, Interface};

    use super::*;

    fn error(json: &str) -> String {
        match parse(json.as_bytes()) {
            Err(e) => e.to_string(),
            Ok(other) => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_contact() {
        let json = r#"{"action":"contact","deviceid":"pc-2024-01-02-03-04-05","name":"GLPI-Agent",
            "version":"1.7","installed-tasks":["inventory","remoteinventory"],
            "enabled-tasks":["inventory"],"tag":"paris","httpd-port":62354}"#;
        assert_eq!(
            parse(json.as_bytes()),
            Ok(GlpiRequest::Contact {
                device_id: "pc-2024-01-02-03-04-05".into()
            })
        );
    }

    #[test]
    fn other_actions_are_passed_on() {
        assert_eq!(
            parse(br#"{"action":"get_params","deviceid":"d","params_id":"1"}"#),
            Ok(GlpiRequest::Other {
                action: "get_params".into()
            })
        );
    }

    #[test]
    fn lenient_types_and_defaults() {
        // No "action": GLPI takes it for an inventory. Numbers as strings, booleans as 0/1.
        let json = r#"{"deviceid":"d","content":{
            "hardware":{"name":"pc1","memory":"8192","vmsystem":"Physical","chassis_type":"Notebook"},
            "cpus":{"name":"Core i5","core":"4"},
            "networks":[{"description":"wlan0","mac":"AA:BB:CC:DD:EE:FF","ipaddress":"10.0.0.5",
                         "speed":866,"virtualdev":0,"status":"up"}],
            "softwares":[{"name":"a","version":1.2},{"name":"a","version":"1.2"},{"name":null}]}}"#;
        let Ok(GlpiRequest::Inventory(r)) = parse(json.as_bytes()) else {
            panic!("not an inventory");
        };
        assert_eq!(r.hostname, "pc1");
        assert_eq!(r.memory_mb, Some(8192));
        assert_eq!(r.asset_type, Some(AssetType::Laptop));
        assert_eq!((r.cpu_sockets, r.cpu_cores), (Some(1), Some(4)));
        assert_eq!(
            r.interfaces,
            vec![Interface {
                name: "wlan0".into(),
                mac: "aa:bb:cc:dd:ee:ff".into(),
                ips: vec!["10.0.0.5".into()],
                vlan: None,
                speed_mbps: Some(866),
            }]
        );
        assert_eq!(r.software.len(), 1, "{:?}", r.software);
    }

    #[test]
    fn bad_messages_are_refused_with_a_reason() {
        let cases = [
            (
                "",
                "malformed JSON: EOF while parsing a value at line 1 column 0",
            ),
            ("{\"action\":\"contact\",", "malformed JSON"),
            ("<REQUEST/>", "malformed JSON"),
            ("[1,2]", "the message is not a JSON object"),
            (
                "{\"action\":\"contact\"}",
                "the message has no \"deviceid\"",
            ),
            (
                "{\"action\":\"contact\",\"deviceid\":\"\"}",
                "\"deviceid\" is empty",
            ),
            (
                "{\"action\":\"contact\",\"deviceid\":7}",
                "\"deviceid\" is not a string",
            ),
            (
                "{\"action\":1,\"deviceid\":\"d\"}",
                "\"action\" is not a string",
            ),
            (
                "{\"action\":\"inventory\",\"deviceid\":\"d\"}",
                "the inventory has no \"content\"",
            ),
            (
                "{\"action\":\"inventory\",\"deviceid\":\"d\",\"content\":[]}",
                "\"content\" is not an object",
            ),
        ];
        for (json, expected) in cases {
            let message = error(json);
            assert!(message.contains(expected), "{json:?} gave {message:?}");
        }
    }

    #[test]
    fn replies() {
        let contact: Value = serde_json::from_str(&contact_reply(24)).unwrap();
        assert_eq!(
            contact,
            json!({"status":"ok","expiration":24,"tasks":{"inventory":{"server":"glpi","version":"10.0"}}})
        );
        assert_eq!(inventory_reply(), r#"{"status":"ok"}"#);
        let error: Value = serde_json::from_str(&error_reply("bad \"deviceid\"")).unwrap();
        assert_eq!(
            error,
            json!({"status":"error","message":"bad \"deviceid\""})
        );
    }
}
