//! XML for SOAP, both ways, on quick-xml: a small element tree we build requests from (the
//! writer escapes every value) and a small tree responses are read into (names without
//! namespace prefixes, since every vendor picks its own; entity and character references
//! resolved; size and depth bounded so a hostile camera cannot blow up memory or the stack).

use quick_xml::Reader;
use quick_xml::events::{BytesStart, BytesText, Event};

/// Largest response read, bytes.
pub const MAX_RESPONSE: usize = 1 << 20;
/// Deepest nesting accepted.
const MAX_DEPTH: usize = 64;

/// An element to write: `prefix:name` with attributes, then text or children.
#[derive(Debug, Clone, PartialEq)]
pub struct El {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: Option<String>,
    pub children: Vec<El>,
}

impl El {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            attrs: Vec::new(),
            text: None,
            children: Vec::new(),
        }
    }

    pub fn attr(mut self, name: &str, value: impl Into<String>) -> Self {
        self.attrs.push((name.to_string(), value.into()));
        self
    }

    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    pub fn child(mut self, child: El) -> Self {
        self.children.push(child);
        self
    }

    /// `<name>text</name>`, the commonest shape.
    pub fn leaf(name: &str, text: impl Into<String>) -> Self {
        Self::new(name).text(text)
    }

    /// The element as XML text.
    pub fn to_xml(&self) -> String {
        let mut writer = quick_xml::Writer::new(Vec::new());
        self.write(&mut writer)
            .expect("writing XML into memory cannot fail");
        String::from_utf8(writer.into_inner()).expect("quick-xml writes UTF-8")
    }

    fn write(&self, w: &mut quick_xml::Writer<Vec<u8>>) -> std::io::Result<()> {
        let mut start = BytesStart::new(self.name.as_str());
        for (k, v) in &self.attrs {
            start.push_attribute((k.as_str(), v.as_str()));
        }
        if self.text.is_none() && self.children.is_empty() {
            return w.write_event(Event::Empty(start));
        }
        w.write_event(Event::Start(start))?;
        if let Some(text) = &self.text {
            w.write_event(Event::Text(BytesText::new(text)))?;
        }
        for child in &self.children {
            child.write(w)?;
        }
        w.write_event(Event::End(quick_xml::events::BytesEnd::new(
            self.name.as_str(),
        )))
    }
}

/// A parsed element: local name (prefix dropped) and the namespace it is in, attributes by
/// local name, the text directly inside it (trimmed), children in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    pub name: String,
    /// The element's namespace URI ("" when none is declared), shared with its declaration
    /// (a hostile document's long URI is not copied into every element).
    pub ns: std::sync::Arc<str>,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Node>,
}

fn local(qname: &str) -> String {
    match qname.rsplit_once(':') {
        Some((_, l)) => l.to_string(),
        None => qname.to_string(),
    }
}

/// Most namespace declarations one element may make, and the longest URI.
const MAX_DECLARATIONS: usize = 16;
const MAX_URI: usize = 1024;

/// Namespace declarations in force: `(prefix, uri)` per open element, innermost last (the
/// default namespace has the prefix "").
#[derive(Default)]
struct Scopes(Vec<Vec<(String, std::sync::Arc<str>)>>);

impl Scopes {
    fn push(&mut self, e: &BytesStart) -> Result<(), String> {
        let mut declared = Vec::new();
        for a in e.attributes().flatten() {
            let key: &str = a.key.as_ref();
            let prefix = match key.strip_prefix("xmlns") {
                Some("") => "",
                Some(rest) => match rest.strip_prefix(':') {
                    Some(p) => p,
                    None => continue,
                },
                None => continue,
            };
            let uri = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| e.to_string())?;
            if uri.len() > MAX_URI || declared.len() >= MAX_DECLARATIONS {
                return Err("namespace declarations too long or too many".into());
            }
            declared.push((prefix.to_string(), std::sync::Arc::from(uri.as_ref())));
        }
        self.0.push(declared);
        Ok(())
    }

    fn resolve(&self, qname: &str) -> std::sync::Arc<str> {
        let prefix = qname.rsplit_once(':').map_or("", |(p, _)| p);
        self.0
            .iter()
            .rev()
            .flatten()
            .find(|(p, _)| p == prefix)
            .map(|(_, uri)| uri.clone())
            .unwrap_or_default()
    }
}

/// A new element, its namespace declarations pushed onto `scopes` (the caller pops them when
/// the element ends).
fn open(scopes: &mut Scopes, e: &BytesStart) -> Result<Node, String> {
    scopes.push(e)?;
    let qname = e.name().as_ref().to_string();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let key = a.key.as_ref();
        if key == "xmlns" || key.starts_with("xmlns:") {
            // Declarations are kept in `scopes`, not as attributes.
            continue;
        }
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?;
        attrs.push((local(key), value.into_owned()));
    }
    Ok(Node {
        name: local(&qname),
        ns: scopes.resolve(&qname),
        attrs,
        ..Node::default()
    })
}

/// Parses a whole document into its root element.
pub fn parse(text: &str) -> Result<Node, String> {
    if text.len() > MAX_RESPONSE {
        return Err(format!("response larger than {MAX_RESPONSE} bytes"));
    }
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut scopes = Scopes::default();
    loop {
        let at = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed XML at byte {at}: {e}"))?;
        match event {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("XML nested deeper than {MAX_DEPTH}"));
                }
                stack.push(open(&mut scopes, &e)?);
            }
            Event::Empty(e) => {
                let node = open(&mut scopes, &e)?;
                scopes.0.pop();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err("more than one root element".into()),
                }
            }
            Event::End(_) => {
                let mut node = stack.pop().ok_or("end tag without start")?;
                scopes.0.pop();
                node.text = node.text.trim().to_string();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err("more than one root element".into()),
                }
            }
            Event::Text(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&t.xml10_content());
                } else if !t.xml10_content().trim().is_empty() {
                    return Err("text outside the root element".into());
                }
            }
            Event::CData(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| format!("unknown entity &{};", &*r))?
                        .to_string(),
                };
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&c);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(format!("XML ends inside <{}>", stack[stack.len() - 1].name));
    }
    root.ok_or_else(|| "no XML element in the response".into())
}

impl Node {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Children named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of child names.
    pub fn path(&self, names: &[&str]) -> Option<&Node> {
        names.iter().try_fold(self, |n, name| n.child(name))
    }

    /// The first element named `name` anywhere below (depth first).
    pub fn find(&self, name: &str) -> Option<&Node> {
        self.children.iter().find_map(|c| {
            if c.name == name {
                Some(c)
            } else {
                c.find(name)
            }
        })
    }

    /// Every element named `name` anywhere below, in document order (not below a match).
    pub fn find_all<'a>(&'a self, name: &str, out: &mut Vec<&'a Node>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            } else {
                c.find_all(name, out);
            }
        }
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The element to write back as it came (reference parameters are echoed so), each
    /// element declaring its own namespace under a prefix of ours.
    pub fn to_el(&self) -> El {
        self.to_el_at(0)
    }

    fn to_el_at(&self, depth: usize) -> El {
        let mut el = if self.ns.is_empty() {
            El::new(&self.name)
        } else {
            El::new(&format!("e{depth}:{}", self.name)).attr(&format!("xmlns:e{depth}"), &*self.ns)
        };
        for (k, v) in &self.attrs {
            el = el.attr(k, v);
        }
        if !self.text.is_empty() {
            el = el.text(&self.text);
        }
        for c in &self.children {
            el = el.child(c.to_el_at(depth + 1));
        }
        el
    }

    /// The text of the child at `names`, if present and not empty.
    pub fn text_at(&self, names: &[&str]) -> Option<&str> {
        self.path(names)
            .map(|n| n.text.as_str())
            .filter(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_escapes() {
        let el = El::new("a:Op")
            .attr("xmlns:a", "urn:x")
            .child(El::leaf("a:Name", "<Tom & \"Jerry\">"))
            .child(El::new("a:Empty"));
        let xml = el.to_xml();
        assert_eq!(
            xml,
            "<a:Op xmlns:a=\"urn:x\"><a:Name>&lt;Tom &amp; &quot;Jerry&quot;&gt;</a:Name><a:Empty/></a:Op>"
        );
        let back = parse(&xml).unwrap();
        assert_eq!(back.name, "Op");
        assert_eq!(back.text_at(&["Name"]), Some("<Tom & \"Jerry\">"));
        assert!(back.child("Empty").is_some());
    }

    #[test]
    fn reads_without_prefixes_and_resolves_references() {
        let doc = r#"<?xml version="1.0"?>
            <env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope">
              <env:Body><x:R x:token="t&amp;1">caf&#233; &lt;ok&gt;<![CDATA[ & raw]]></x:R></env:Body>
            </env:Envelope>"#;
        let root = parse(doc).unwrap();
        let r = root.path(&["Body", "R"]).unwrap();
        assert_eq!(r.attr("token"), Some("t&1"));
        assert_eq!(r.text, "café <ok> & raw");
        assert!(root.find("R").is_some());
    }

    #[test]
    fn keeps_namespaces_and_writes_elements_back() {
        let doc = r#"<a:Ref xmlns:a="urn:a" xmlns="urn:default"><a:Id>7</a:Id><Plain x="1"/>
            <b:Deep xmlns:b="urn:b"><b:Leaf>v</b:Leaf></b:Deep></a:Ref>"#;
        let root = parse(doc).unwrap();
        assert_eq!(&*root.ns, "urn:a");
        assert_eq!(&*root.child("Plain").unwrap().ns, "urn:default");
        assert_eq!(&*root.path(&["Deep", "Leaf"]).unwrap().ns, "urn:b");
        let many: String = (0..20)
            .map(|i| format!(" xmlns:p{i}=\"urn:{i}\""))
            .collect();
        assert!(
            parse(&format!("<a{many}/>"))
                .unwrap_err()
                .contains("namespace")
        );
        let id = root.child("Id").unwrap().to_el().to_xml();
        assert_eq!(id, r#"<e0:Id xmlns:e0="urn:a">7</e0:Id>"#);
        // Written back and read again, it is the same element in the same namespaces.
        let again = parse(&root.to_el().to_xml()).unwrap();
        assert_eq!(&*again.path(&["Deep", "Leaf"]).unwrap().ns, "urn:b");
        assert_eq!(again.path(&["Deep", "Leaf"]).unwrap().text, "v");
        assert_eq!(again.child("Plain").unwrap().attr("x"), Some("1"));
    }

    #[test]
    fn rejects_broken_documents() {
        for bad in [
            "",
            "<a><b></a>",
            "<a>",
            "<a/><b/>",
            "not xml at all",
            "<a>&bogus;</a>",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(&deep).unwrap_err().contains("deeper"));
    }
}
