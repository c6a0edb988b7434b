//! A tenant's source-IP allow and block lists (SPEC §8, `admin.settings`). No change may shut
//! out the address of the person making it: that is judged on the lists as they would be
//! after the change, inside its transaction.

use std::net::IpAddr;

use serde_json::json;

use super::{Actor, App, AppResult, Invalidation};
use crate::domain::error::DomainError;
use crate::domain::net::{self, IpLists};
use crate::store::audit;
use crate::store::ip_rules::{self, IpRule};

/// Which of the two lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Allow,
    Block,
}

impl List {
    fn as_str(self) -> &'static str {
        match self {
            List::Allow => "allow",
            List::Block => "block",
        }
    }
}

pub async fn entries(app: &App, actor: &Actor, list: List) -> AppResult<Vec<IpRule>> {
    let tid = actor.tenant.as_str().to_string();
    Ok(app
        .read(move |c| ip_rules::list(c, &tid, list.as_str()))
        .await?)
}

/// Adds a network to a list; `own_ip` is the address the change comes from.
pub async fn add(
    app: &App,
    actor: Actor,
    list: List,
    cidr: &str,
    note: Option<String>,
    own_ip: Option<IpAddr>,
) -> AppResult<IpRule> {
    let network = net::parse_cidr(cidr)
        .ok_or_else(|| DomainError::validation("cidr", format!("invalid CIDR {cidr:?}")))?
        .to_string();
    let note = note.unwrap_or_default();
    if note.chars().count() > 500 || note.chars().any(char::is_control) {
        return Err(DomainError::validation(
            "note",
            "at most 500 printable characters",
        ));
    }
    let tid = actor.tenant.clone();
    let by = actor.template.actor_id.clone().unwrap_or_default();
    let action = format!("ip_{}list.add", list.as_str());
    let mut ev = actor.event(
        &action,
        String::new(),
        json!({"cidr": network, "note": note}),
    );
    app.change(move |tx, fx| {
        fx.invalidate(Invalidation::IpLists(tid.clone()));
        let t = tid.as_str();
        let r = ip_rules::add(tx, t, list.as_str(), &network, &note, &by)?;
        let parse = |rules: Vec<IpRule>| {
            rules
                .iter()
                .filter_map(|r| net::parse_cidr(&r.cidr))
                .collect()
        };
        let after = IpLists {
            allow: parse(ip_rules::list(tx, t, "allow")?),
            block: parse(ip_rules::list(tx, t, "block")?),
        };
        if !own_ip.is_some_and(|ip| after.permits(ip)) {
            let e = DomainError::conflict("This entry would shut out your own address.");
            return Err(e.into());
        }
        ev.target = Some(format!("ip_rule:{}", r.id));
        audit::append(tx, &ev)?;
        Ok(r)
    })
    .await
}

/// Removes an entry from a list (`NotFound` when the list has none of that id).
pub async fn remove(app: &App, actor: Actor, list: List, id: String) -> AppResult<()> {
    let tid = actor.tenant.clone();
    let action = format!("ip_{}list.remove", list.as_str());
    let ev = actor.event(&action, format!("ip_rule:{id}"), json!({}));
    app.change(move |tx, fx| {
        fx.invalidate(Invalidation::IpLists(tid.clone()));
        if !ip_rules::remove(tx, tid.as_str(), list.as_str(), &id)? {
            return Err(DomainError::not_found().into());
        }
        audit::append(tx, &ev)?;
        Ok(())
    })
    .await
}
