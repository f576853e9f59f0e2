//! Reading ONVIF event service responses, pure: a pull-point subscription (its address, the
//! reference parameters to echo, the camera's times), pulled notification messages (topic,
//! property operation, source and data items by name), and the topics a device announces.

use super::xml::Node;

/// A pull-point subscription as the camera created it.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// Where Pull, Renew and Unsubscribe go, as the camera wrote it.
    pub address: String,
    /// Elements to echo in every request's header.
    pub reference: Vec<Node>,
    pub lifetime: Option<chrono::TimeDelta>,
}

/// `TerminationTime - CurrentTime` of a response: how long the subscription lives, on the
/// camera's own clock (so its offset from ours does not matter).
fn lifetime(resp: &Node) -> Option<chrono::TimeDelta> {
    let t = |name| time(resp.text_at(&[name])?);
    Some(t("TerminationTime")? - t("CurrentTime")?)
}

fn time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.to_utc())
}

/// From `CreatePullPointSubscriptionResponse`.
pub fn subscription(resp: &Node) -> Result<Subscription, String> {
    if resp.name != "CreatePullPointSubscriptionResponse" {
        return Err(format!(
            "expected CreatePullPointSubscriptionResponse, got <{}>",
            resp.name
        ));
    }
    let reference = resp
        .child("SubscriptionReference")
        .ok_or("missing SubscriptionReference")?;
    let address = reference
        .text_at(&["Address"])
        .ok_or("missing SubscriptionReference/Address")?
        .to_string();
    Ok(Subscription {
        address,
        reference: reference
            .child("ReferenceParameters")
            .map(|r| r.children.clone())
            .unwrap_or_default(),
        lifetime: lifetime(resp),
    })
}

/// From `RenewResponse`: the new lifetime, when the camera says it.
pub fn renewed(resp: &Node) -> Result<Option<chrono::TimeDelta>, String> {
    if resp.name != "RenewResponse" {
        return Err(format!("expected RenewResponse, got <{}>", resp.name));
    }
    Ok(lifetime(resp))
}

/// One notification message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Notification {
    /// E.g. `tns1:RuleEngine/CellMotionDetector/Motion`, as sent.
    pub topic: String,
    /// `Initialized`, `Changed` or `Deleted`.
    pub operation: String,
    /// `SimpleItem`s of the message's `Source`.
    pub source: Vec<(String, String)>,
    /// `SimpleItem`s of the message's `Data`.
    pub data: Vec<(String, String)>,
}

impl Notification {
    /// The data item named `name` (case as sent, compared without case).
    pub fn data(&self, name: &str) -> Option<&str> {
        self.data
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a pull brought.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pulled {
    pub messages: Vec<Notification>,
    /// The subscription's lifetime from now, when the camera says it.
    pub lifetime: Option<chrono::TimeDelta>,
}

/// From `PullMessagesResponse`.
pub fn pulled(resp: &Node) -> Result<Pulled, String> {
    if resp.name != "PullMessagesResponse" {
        return Err(format!(
            "expected PullMessagesResponse, got <{}>",
            resp.name
        ));
    }
    let messages = resp.all("NotificationMessage").map(notification).collect();
    Ok(Pulled {
        messages,
        lifetime: lifetime(resp),
    })
}

fn items(node: Option<&Node>) -> Vec<(String, String)> {
    node.map(|n| {
        n.all("SimpleItem")
            .filter_map(|i| Some((i.attr("Name")?.to_string(), i.attr("Value")?.to_string())))
            .collect()
    })
    .unwrap_or_default()
}

fn notification(n: &Node) -> Notification {
    // Message/Message: the wrapper is wsnt's, the inner one tt's.
    let message = n
        .path(&["Message", "Message"])
        .or_else(|| n.child("Message"));
    Notification {
        topic: n.text_at(&["Topic"]).unwrap_or_default().to_string(),
        operation: message
            .and_then(|m| m.attr("PropertyOperation"))
            .unwrap_or_default()
            .to_string(),
        source: items(message.and_then(|m| m.child("Source"))),
        data: items(message.and_then(|m| m.child("Data"))),
    }
}

/// The topics `GetEventPropertiesResponse` announces, as `A/B/C` paths (prefix dropped).
pub fn topics(resp: &Node) -> Result<Vec<String>, String> {
    if resp.name != "GetEventPropertiesResponse" {
        return Err(format!(
            "expected GetEventPropertiesResponse, got <{}>",
            resp.name
        ));
    }
    let mut out = Vec::new();
    if let Some(set) = resp.child("TopicSet") {
        walk(set, &mut Vec::new(), &mut out);
    }
    Ok(out)
}

/// Every path of `node` that ends at an element holding a `MessageDescription`.
fn walk<'a>(node: &'a Node, path: &mut Vec<&'a str>, out: &mut Vec<String>) {
    for c in &node.children {
        if c.name == "MessageDescription" {
            out.push(path.join("/"));
            continue;
        }
        path.push(&c.name);
        walk(c, path, out);
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onvif::responses::body;
    use crate::onvif::xml::parse;

    fn load(name: &str) -> Node {
        let path = format!("{}/tests/data/onvif/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        body(&parse(&text).unwrap()).unwrap().unwrap().clone()
    }

    #[test]
    fn reads_a_subscription_with_reference_parameters() {
        let s = subscription(&load("events_subscription_axis.xml")).unwrap();
        assert_eq!(
            s.address,
            "http://192.168.0.90/onvif/services/pullpoint/subscription"
        );
        assert_eq!(s.reference.len(), 1);
        assert_eq!(s.reference[0].name, "SubscriptionId");
        assert_eq!(&*s.reference[0].ns, "http://www.axis.com/2009/event");
        assert_eq!(s.reference[0].text, "47");
        assert_eq!(s.lifetime, Some(chrono::TimeDelta::seconds(600)));
    }

    #[test]
    fn reads_motion_messages_of_both_kinds() {
        let p = pulled(&load("events_pull_hikvision.xml")).unwrap();
        assert_eq!(p.lifetime, Some(chrono::TimeDelta::seconds(60)));
        assert_eq!(p.messages.len(), 2);
        let cell = &p.messages[0];
        assert_eq!(cell.topic, "tns1:RuleEngine/CellMotionDetector/Motion");
        assert_eq!(cell.operation, "Changed");
        assert_eq!(cell.data("IsMotion"), Some("true"));
        assert_eq!(
            cell.source[0],
            (
                "VideoSourceConfigurationToken".into(),
                "VideoSourceToken".into()
            )
        );
        let alarm = &p.messages[1];
        assert_eq!(alarm.topic, "tns1:VideoSource/MotionAlarm");
        assert_eq!(alarm.data("State"), Some("false"));
    }

    #[test]
    fn an_empty_pull_and_wrong_answers() {
        let empty = parse(
            "<PullMessagesResponse><CurrentTime>2026-01-01T00:00:00Z</CurrentTime>\
             <TerminationTime>2026-01-01T00:10:00.5Z</TerminationTime></PullMessagesResponse>",
        )
        .unwrap();
        let p = pulled(&empty).unwrap();
        assert!(p.messages.is_empty());
        assert_eq!(p.lifetime, Some(chrono::TimeDelta::milliseconds(600_500)));
        assert!(pulled(&parse("<Other/>").unwrap()).is_err());
        assert!(subscription(&parse("<CreatePullPointSubscriptionResponse/>").unwrap()).is_err());
    }

    #[test]
    fn lists_announced_topics() {
        let t = topics(&load("events_properties.xml")).unwrap();
        assert!(
            t.contains(&"RuleEngine/CellMotionDetector/Motion".to_string()),
            "{t:?}"
        );
        assert!(t.contains(&"VideoSource/MotionAlarm".to_string()), "{t:?}");
    }
}
