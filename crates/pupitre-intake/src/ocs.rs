//! FusionInventory's OCS-NG XML protocol: reading a request, writing the replies.
//!
//! Every message is an HTTP POST of one `<REQUEST>`. The agent first sends a `PROLOG`
//! (`DEVICEID`, `QUERY`, `TOKEN`) and sends its inventory only if the reply says `SEND`; the
//! `INVENTORY` request then carries `CONTENT`, whose children are sections (`HARDWARE`,
//! `NETWORKS`…) repeated once per item, each holding scalar fields.
//!
//! The document is read as a stream: only the sections a report needs are kept, so a large
//! `PROCESSES` or `SOFTWARES` list costs no tree in memory.

use std::borrow::Cow;

use pupitre_core::inventory::InventoryReport;
use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::Event;

use crate::IntakeError;
use crate::sections::{self, Envelope, Record, Sections};

/// What an agent asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OcsRequest {
    /// "May I send an inventory?", answered by [`prolog_reply`].
    Prolog { device_id: String },
    /// A full inventory, answered by [`inventory_reply`].
    Inventory(Box<InventoryReport>),
    /// Another query (`SNMPQUERY`, `NETDISCOVERY`…), as sent.
    Other { query: String },
}

/// Parses one request body (already decompressed). Malformed or truncated XML, a root other
/// than `<REQUEST>`, or a request without `<DEVICEID>` or `<QUERY>` is an error whose message
/// says which.
pub fn parse(xml: &[u8]) -> Result<OcsRequest, IntakeError> {
    let text = as_text(xml);
    let request = read(&text)?;
    let device_id = match request.device_id.as_deref().map(str::trim) {
        None => return Err(protocol("the request has no <DEVICEID> element")),
        Some("") => return Err(protocol("the request's <DEVICEID> is empty")),
        Some(id) => id.to_owned(),
    };
    let query = match request.query.as_deref().map(str::trim) {
        None => return Err(protocol("the request has no <QUERY> element")),
        Some("") => return Err(protocol("the request's <QUERY> is empty")),
        Some(query) => query.to_owned(),
    };
    if query.eq_ignore_ascii_case("PROLOG") {
        Ok(OcsRequest::Prolog { device_id })
    } else if query.eq_ignore_ascii_case("INVENTORY") {
        if !request.has_content {
            return Err(protocol("the INVENTORY request has no <CONTENT> element"));
        }
        let envelope = Envelope {
            device_id,
            source: "fusioninventory",
            agent_version: request.agent_version,
        };
        Ok(OcsRequest::Inventory(Box::new(sections::report(
            envelope,
            &request.sections,
        ))))
    } else {
        Ok(OcsRequest::Other { query })
    }
}

/// The answer to a `PROLOG`: `SEND` asks for an inventory (anything else, here `STOP`, tells the
/// agent not to send one), and `PROLOG_FREQ` is the delay in hours before the next contact.
pub fn prolog_reply(send: bool, freq_hours: u32) -> String {
    let response = if send { "SEND" } else { "STOP" };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><REPLY><RESPONSE>{response}</RESPONSE>\
         <PROLOG_FREQ>{freq_hours}</PROLOG_FREQ></REPLY>"
    )
}

/// The answer to an `INVENTORY`: the agent saves its state once it gets any well-formed reply.
pub fn inventory_reply() -> String {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><REPLY><RESPONSE>no_account_update</RESPONSE></REPLY>"
        .to_owned()
}

fn protocol(message: &str) -> IntakeError {
    IntakeError::Protocol(message.to_owned())
}

/// The body as text: UTF-8 (as FusionInventory writes it), else Latin-1, which older OCS agents
/// send and which maps every byte to a character.
fn as_text(xml: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(xml) {
        Ok(text) => Cow::Borrowed(text.strip_prefix('\u{feff}').unwrap_or(text)),
        Err(_) => Cow::Owned(xml.iter().map(|b| char::from(*b)).collect()),
    }
}

/// What the walk over the document found.
#[derive(Default)]
struct Request {
    device_id: Option<String>,
    query: Option<String>,
    has_content: bool,
    agent_version: String,
    sections: Sections,
}

/// Walks the document once. Depth 1 is `<REQUEST>`, 2 its children (`DEVICEID`, `QUERY`,
/// `CONTENT`), 3 the sections inside `CONTENT`, 4 their fields; deeper elements (such as
/// `OPERATINGSYSTEM/TIMEZONE/NAME`) are not fields and are skipped.
fn read(text: &str) -> Result<Request, IntakeError> {
    let mut reader = Reader::from_str(text);
    let mut walk = Walk::default();
    loop {
        let event = reader.read_event().map_err(|e| IntakeError::Xml {
            position: reader.error_position(),
            detail: e.to_string(),
        })?;
        let at = |detail: String| IntakeError::Xml {
            position: reader.buffer_position(),
            detail,
        };
        match event {
            Event::Start(e) => walk.open(e.name().0).map_err(at)?,
            Event::Empty(e) => {
                walk.open(e.name().0).map_err(at)?;
                walk.close();
            }
            Event::End(_) => walk.close(),
            Event::Text(t) => walk.text(&t.xml10_content()).map_err(at)?,
            Event::CData(c) => walk.text(&c.xml10_content()).map_err(at)?,
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match resolve_xml_entity(&r) {
                        Some(s) => s.to_owned(),
                        None => return Err(at(format!("unknown entity &{};", &*r))),
                    },
                    Err(e) => return Err(at(e.to_string())),
                };
                walk.text(&resolved).map_err(at)?;
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !walk.stack.is_empty() {
        return Err(IntakeError::Xml {
            position: reader.buffer_position(),
            detail: format!(
                "the document ends inside <{}> (truncated?)",
                walk.stack.join("><")
            ),
        });
    }
    if !walk.root_seen {
        return Err(protocol("the body holds no XML element"));
    }
    Ok(walk.request)
}

#[derive(Default)]
struct Walk {
    /// Names of the open elements, root first.
    stack: Vec<String>,
    /// Text of the innermost open element since it opened or since its last child closed.
    text: String,
    /// The section being read, when it is one a report needs.
    section: Option<(&'static str, Record)>,
    root_seen: bool,
    request: Request,
}

impl Walk {
    fn open(&mut self, name: &str) -> Result<(), String> {
        if self.stack.is_empty() {
            if self.root_seen {
                return Err(format!("a second root element <{name}> follows </REQUEST>"));
            }
            if name != "REQUEST" {
                return Err(format!("the root element is <{name}>, expected <REQUEST>"));
            }
            self.root_seen = true;
        }
        self.stack.push(name.to_owned());
        self.text.clear();
        match self.depth_in_content() {
            Some(2) => self.request.has_content = true,
            Some(3) => self.section = sections::wanted(name).map(|s| (s, Record::default())),
            _ => {}
        }
        Ok(())
    }

    /// Closes the innermost element (the reader has checked that the end tag matches it).
    fn close(&mut self) {
        let Some(name) = self.stack.last() else {
            return;
        };
        match (self.stack.len(), self.depth_in_content()) {
            (2, _) if name == "DEVICEID" => self.request.device_id = Some(self.text.clone()),
            (2, _) if name == "QUERY" => self.request.query = Some(self.text.clone()),
            (3, Some(3)) => {
                if name == "VERSIONCLIENT" {
                    self.request.agent_version = self.text.trim().to_owned();
                }
                if let Some((section, record)) = self.section.take() {
                    self.request.sections.push(section, record);
                }
            }
            (4, Some(4)) => {
                if let Some((_, record)) = self.section.as_mut() {
                    record.push(name, &self.text);
                }
            }
            _ => {}
        }
        self.stack.pop();
        self.text.clear();
    }

    fn text(&mut self, text: &str) -> Result<(), String> {
        if self.stack.is_empty() {
            if text.trim().is_empty() {
                return Ok(());
            }
            let shown: String = text.trim().chars().take(40).collect();
            return Err(format!("text outside the root element: {shown:?}"));
        }
        self.text.push_str(text);
        Ok(())
    }

    /// The depth when inside `REQUEST/CONTENT` (2 for `CONTENT` itself), else `None`.
    fn depth_in_content(&self) -> Option<usize> {
        (self.stack.len() >= 2 && self.stack[1] == "CONTENT").then_some(self.stack.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory(xml: &str) -> InventoryReport {
        match parse(xml.as_bytes()) {
            Ok(OcsRequest::Inventory(report)) => *report,
            other => panic!("expected an inventory, got {other:?}"),
        }
    }

    fn error(xml: &str) -> String {
        match parse(xml.as_bytes()) {
            Err(e) => e.to_string(),
            Ok(other) => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_prolog() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<REQUEST>\n  \
                   <DEVICEID>vm-2026-11-29-14-15-13</DEVICEID>\n  <QUERY>PROLOG</QUERY>\n  \
                   <TOKEN>12345678</TOKEN>\n</REQUEST>\n";
        assert_eq!(
            parse(xml.as_bytes()),
            Ok(OcsRequest::Prolog {
                device_id: "vm-2026-11-29-14-15-13".into()
            })
        );
    }

    #[test]
    fn other_queries_are_passed_on() {
        assert_eq!(
            parse(b"<REQUEST><QUERY>SNMPQUERY</QUERY><DEVICEID>d</DEVICEID></REQUEST>"),
            Ok(OcsRequest::Other {
                query: "SNMPQUERY".into()
            })
        );
    }

    #[test]
    fn entities_cdata_and_nesting() {
        let r = inventory(
            "<REQUEST><CONTENT>\
               <HARDWARE><NAME>r&amp;d-&#x31;&#50;</NAME><WORKGROUP><![CDATA[a<b>.example]]></WORKGROUP>\
                 <MEMORY> 2048 </MEMORY><UUID/></HARDWARE>\
               <OPERATINGSYSTEM><FULL_NAME>Debian &quot;12&quot;</FULL_NAME>\
                 <TIMEZONE><NAME>UTC</NAME></TIMEZONE><NAME>Debian GNU/Linux</NAME></OPERATINGSYSTEM>\
               <VERSIONCLIENT>FusionInventory-Agent_v2.6-3</VERSIONCLIENT>\
               <PROCESSES><CMD>&lt;ignored&gt;</CMD></PROCESSES>\
             </CONTENT><DEVICEID>d1</DEVICEID><QUERY>INVENTORY</QUERY></REQUEST>",
        );
        assert_eq!(r.device_id, "d1");
        assert_eq!(r.source, "fusioninventory");
        assert_eq!(r.agent_version, "FusionInventory-Agent_v2.6-3");
        assert_eq!(r.hostname, "r&d-12");
        assert_eq!(r.domain, "a<b>.example");
        assert_eq!(r.memory_mb, Some(2048));
        assert_eq!(r.uuid, "");
        assert_eq!(r.os_name, "Debian \"12\"");
    }

    #[test]
    fn latin1_bodies_are_read() {
        let mut xml = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><REQUEST><CONTENT><HARDWARE><NAME>poste-".to_vec();
        xml.push(0xe9); // é in Latin-1
        xml.extend_from_slice(
            b"</NAME></HARDWARE></CONTENT><DEVICEID>d</DEVICEID><QUERY>INVENTORY</QUERY></REQUEST>",
        );
        let Ok(OcsRequest::Inventory(r)) = parse(&xml) else {
            panic!("not parsed");
        };
        assert_eq!(r.hostname, "poste-é");
    }

    #[test]
    fn malformed_documents_are_refused_with_a_reason() {
        let cases = [
            ("", "the body holds no XML element"),
            ("   \n", "the body holds no XML element"),
            (
                "hello world",
                "text outside the root element: \"hello world\"",
            ),
            ("{\"action\":\"contact\"}", "text outside the root element"),
            (
                "<REQUEST><DEVICEID>d</DEVICEID><QUERY>PROLOG</QUERY>",
                "the document ends inside <REQUEST> (truncated?)",
            ),
            (
                "<REQUEST><CONTENT><SOFTWARES><NAME>vim</NAME>",
                "the document ends inside <REQUEST><CONTENT><SOFTWARES> (truncated?)",
            ),
            (
                "<REQUEST><DEVICEID>d</DEVICEID><QUERY>PROLOG</QUERY></REQ",
                "malformed XML",
            ),
            (
                "<REQUEST><QUERY>PROLOG</DEVICEID></REQUEST>",
                "malformed XML",
            ),
            ("<REQUEST></REQUEST></REQUEST>", "malformed XML"),
            (
                "<REQUEST><QUERY>A &nbsp; B</QUERY></REQUEST>",
                "unknown entity &nbsp;",
            ),
            ("<REQUEST><QUERY>A & B</QUERY></REQUEST>", "malformed XML"),
            (
                "<REPLY><RESPONSE>SEND</RESPONSE></REPLY>",
                "the root element is <REPLY>",
            ),
            ("<REQUEST/><REQUEST/>", "a second root element <REQUEST>"),
            (
                "<REQUEST><QUERY>PROLOG</QUERY></REQUEST>",
                "no <DEVICEID> element",
            ),
            (
                "<REQUEST><DEVICEID> </DEVICEID><QUERY>PROLOG</QUERY></REQUEST>",
                "<DEVICEID> is empty",
            ),
            (
                "<REQUEST><DEVICEID>d</DEVICEID></REQUEST>",
                "no <QUERY> element",
            ),
            (
                "<REQUEST><DEVICEID>d</DEVICEID><QUERY/></REQUEST>",
                "<QUERY> is empty",
            ),
            (
                "<REQUEST><DEVICEID>d</DEVICEID><QUERY>INVENTORY</QUERY></REQUEST>",
                "the INVENTORY request has no <CONTENT> element",
            ),
        ];
        for (xml, expected) in cases {
            let message = error(xml);
            assert!(message.contains(expected), "{xml:?} gave {message:?}");
        }
    }

    #[test]
    fn replies_match_what_the_agent_reads() {
        assert_eq!(
            prolog_reply(true, 24),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><REPLY><RESPONSE>SEND</RESPONSE>\
             <PROLOG_FREQ>24</PROLOG_FREQ></REPLY>"
        );
        assert!(prolog_reply(false, 1).contains("<RESPONSE>STOP</RESPONSE>"));
        assert_eq!(
            inventory_reply(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><REPLY><RESPONSE>no_account_update</RESPONSE></REPLY>"
        );
        // Our own reader accepts our replies as well-formed XML.
        for reply in [prolog_reply(true, 24), inventory_reply()] {
            let mut reader = Reader::from_str(&reply);
            while !matches!(reader.read_event().unwrap(), Event::Eof) {}
        }
    }
}
