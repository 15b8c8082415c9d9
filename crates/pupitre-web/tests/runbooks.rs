//! Runbooks over HTTP: who may write them and declare actions, who may launch one, what bad
//! input gets, and the pages (the list and form, one runbook with its versions, the panel on
//! an incident, the confirmation before a command runs). The agent's side is the real
//! protocol (`/api/v1/agent/poll`); the end-to-end run on a real agent process is in
//! `pupitre::agent_cli`.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod support;

use pupitre_core::model::ROOT_ENTITY;
use pupitre_web::WebConfig;
use serde_json::{Value, json};
use support::{App, start};

/// An enrolled agent on a new asset: (asset id, agent id, agent credential).
async fn host(app: &App, admin: &str, name: &str) -> (i64, i64, String) {
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/assets",
            admin,
            Some(json!({"name": name, "asset_type": "server", "entity_id": ROOT_ENTITY})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let asset = v["id"].as_i64().unwrap();
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/agent-enrolments",
            admin,
            Some(json!({"entity_id": ROOT_ENTITY, "label": name, "max_uses": 1})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let token = v["token"].as_str().unwrap();
    let hello = json!({"token": token, "hello": {"hostname": name, "machine_id": format!("m-{name}"),
        "version": "0.1.0", "os": "linux", "arch": "x86_64"}});
    let resp = app
        .http
        .post(format!("{}/api/v1/agent/enrol", app.base))
        .json(&hello)
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    let agent = v["agent_id"].as_i64().unwrap();
    // The asset the agent's inventory would have made.
    app.st.store.set_agent_asset(agent, asset).await.unwrap();
    (asset, agent, v["credential"].as_str().unwrap().to_owned())
}

async fn incident_on(app: &App, admin: &str, asset: i64, key: &str) -> i64 {
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/alert-sources",
            admin,
            Some(
                json!({"name": format!("hook {key}"), "entity_id": ROOT_ENTITY, "kind": "webhook"}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let resp = app
        .http
        .post(format!("{}/api/v1/alerts/webhook", app.base))
        .bearer_auth(v["token"].as_str().unwrap())
        .json(
            &json!({"dedup_key": key, "action": "trigger", "severity": "critical",
            "summary": format!("{key} is down"), "asset_id": asset, "service": "billing"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    for _ in 0..100 {
        let (_, list) = app.call("GET", "/api/v1/incidents", admin, None).await;
        if let Some(id) = list
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["title"] == format!("{key} is down"))
            .and_then(|i| i["id"].as_i64())
        {
            return id;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no incident for {key}");
}

/// A profile with these levels, and a token of a new account holding it at the root.
async fn person(app: &App, admin: &str, login: &str, levels: Value) -> String {
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/profiles",
            admin,
            Some(json!({"name": login, "entity_id": ROOT_ENTITY, "levels": levels})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    support::token(&app.st, login, login, ROOT_ENTITY).await
}

fn restart(name: &str) -> Value {
    json!({"name": name, "label": "Restart the app", "argv": ["/bin/systemctl", "restart", "app"], "timeout_s": 30})
}

#[tokio::test]
async fn writing_runbooks_and_launching_actions_take_their_rights_and_bad_input_is_named() {
    let app = start(WebConfig::standard()).await;
    let admin = support::token(&app.st, "ops", "Administrator", ROOT_ENTITY).await;
    let (asset, _, _) = host(&app, &admin, "web-1").await;
    let runbook = |actions: Value| {
        json!({"entity_id": ROOT_ENTITY, "target_kind": "asset", "target": asset.to_string(),
            "name": "web-1 down", "body": "Restart.", "actions": actions})
    };
    // Bad input, each named; nothing kept.
    for (body, field) in [
        (
            json!({"entity_id": ROOT_ENTITY, "target_kind": "vm", "target": "1", "name": "x"}),
            "target_kind",
        ),
        (
            json!({"entity_id": ROOT_ENTITY, "target_kind": "asset", "target": "999999", "name": "x"}),
            "target",
        ),
        (
            json!({"entity_id": ROOT_ENTITY, "target_kind": "service", "target": "", "name": "x"}),
            "target",
        ),
        (
            json!({"entity_id": ROOT_ENTITY, "target_kind": "service", "target": "db", "name": " "}),
            "name",
        ),
        (
            runbook(json!([{"name": "re start", "argv": ["/bin/true"]}])),
            "actions[0].name",
        ),
        (
            runbook(json!([restart("a"), restart("a")])),
            "actions[1].name",
        ),
        (
            runbook(json!([{"name": "a", "argv": []}])),
            "actions[0].argv",
        ),
        (
            runbook(json!([{"name": "a", "argv": ["/bin/true"], "timeout_s": 0}])),
            "actions[0].timeout_s",
        ),
        (
            runbook(
                json!([{"name": "a", "argv": ["/bin/true"], "automatic": true},
                        {"name": "b", "argv": ["/bin/true"], "automatic": true}]),
            ),
            "actions",
        ),
        (
            runbook(json!([{"name": "a", "argv": ["/bin/true"], "shell": "bash"}])),
            "shell",
        ),
    ] {
        let (s, v) = app
            .call("POST", "/api/v1/runbooks", &admin, Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{body}: {v}");
        let said = format!("{} {}", v["error"]["field"], v["error"]["message"]);
        assert!(said.contains(field), "{body}: {v}");
    }
    let (_, list) = app.call("GET", "/api/v1/runbooks", &admin, None).await;
    assert_eq!(list, json!([]));

    // Incidents=manage writes runbooks; declaring actions also takes jobs=manage.
    let writer = person(
        &app,
        &admin,
        "writer",
        json!({"incidents": "manage", "jobs": "operate", "inventory": "read"}),
    )
    .await;
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/runbooks",
            &writer,
            Some(runbook(json!([]))),
        )
        .await;
    assert_eq!(s, 201);
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/runbooks",
            &writer,
            Some(runbook(json!([restart("restart")]))),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    let oncall = support::token(&app.st, "night", "On-call engineer", ROOT_ENTITY).await;
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/runbooks",
            &oncall,
            Some(runbook(json!([]))),
        )
        .await;
    assert_eq!(s, 403);
    let (s, v) = app
        .call(
            "POST",
            "/api/v1/runbooks",
            &admin,
            Some(runbook(json!([restart("restart")]))),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    // Changing a runbook with actions takes jobs=manage too.
    let (s, _) = app
        .call(
            "PUT",
            &format!("/api/v1/runbooks/{id}"),
            &writer,
            Some(runbook(json!([]))),
        )
        .await;
    assert_eq!(s, 403);

    let incident = incident_on(&app, &admin, asset, "web-1").await;
    let launch = json!({"runbook_id": id, "action": "restart", "confirm": true});
    let path = format!("/api/v1/incidents/{incident}/actions");
    // Incidents=operate without jobs=operate on the host: refused, nothing queued.
    let clerk = person(
        &app,
        &admin,
        "clerk",
        json!({"incidents": "operate", "jobs": "read"}),
    )
    .await;
    let (s, v) = app.call("POST", &path, &clerk, Some(launch.clone())).await;
    assert_eq!(s, 403, "{v}");
    let technician = support::token(&app.st, "tech", "Technician", ROOT_ENTITY).await;
    let (s, _) = app
        .call("POST", &path, &technician, Some(launch.clone()))
        .await;
    assert_eq!(s, 403);
    for (body, field) in [
        (
            json!({"runbook_id": id + 100, "action": "restart", "confirm": true}),
            "runbook_id",
        ),
        (
            json!({"runbook_id": id, "action": "reboot", "confirm": true}),
            "action",
        ),
        (
            json!({"runbook_id": id, "action": "restart", "asset_id": 424242, "confirm": true}),
            "asset_id",
        ),
        (json!({"runbook_id": id, "action": "restart"}), "confirm"),
    ] {
        let (s, v) = app.call("POST", &path, &oncall, Some(body.clone())).await;
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}: {v}"
        );
    }
    let (_, actions) = app.call("GET", &path, &admin, None).await;
    assert_eq!(actions, json!([]), "nothing ran");
    // The on-call engineer launches it; the command waits for the agent.
    let (s, v) = app.call("POST", &path, &oncall, Some(launch)).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(
        (v["state"].as_str(), v["started_by"].as_str()),
        (Some("running"), Some("night"))
    );
    let (_, audit) = app
        .call(
            "GET",
            "/api/v1/audit?action=agent_command.create",
            &admin,
            None,
        )
        .await;
    let record = audit.to_string();
    assert!(
        record.contains("restart") && record.contains(&format!("\"{incident}\"")),
        "{record}"
    );
}

#[tokio::test]
async fn the_runbook_pages_render_markdown_safely_and_confirm_before_running() {
    let app = start(WebConfig::standard()).await;
    let admin = support::token(&app.st, "ops", "Administrator", ROOT_ENTITY).await;
    let (asset, agent, credential) = host(&app, &admin, "db-1").await;
    // Written through the form.
    let form = format!(
        "entity_id={ROOT_ENTITY}&target_kind=asset&target={asset}&name=db-1+down\
         &body=%23+Steps%0A%0A%3Cscript%3Ealert(1)%3C%2Fscript%3E%0A%0A1.+**Restart**+it\
         &action_name=restart&action_label=Restart+postgres&action_argv=%2Fbin%2Fsystemctl%0Arestart%0Apostgresql\
         &action_user=&action_timeout_s=60&action_automatic=no\
         &action_name=&action_label=&action_argv=&action_user=&action_timeout_s=60&action_automatic=no&note=first"
    );
    let (s, location, _) = app.browse("/incidents/runbooks", &admin, Some(&form)).await;
    assert_eq!(s, 303);
    assert!(location.starts_with("/incidents/runbooks/"), "{location}");
    let (s, _, html) = app.browse(&location, &admin, None).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("<h1>Steps</h1>") && html.contains("<strong>Restart</strong>"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "raw HTML is shown as text");
    assert!(html.contains("/bin/systemctl restart postgresql"));
    // A refused form keeps what was typed.
    let bad = form.replace(
        "action_timeout_s=60&action_automatic=no&action_name=",
        "action_timeout_s=0&action_automatic=no&action_name=",
    );
    let (s, _, html) = app.browse("/incidents/runbooks", &admin, Some(&bad)).await;
    assert_eq!(s, 422);
    assert!(
        html.contains("actions[0].timeout_s") && html.contains("value=\"db-1 down\""),
        "{html}"
    );

    // The incident shows its runbook and the action's button.
    let incident = incident_on(&app, &admin, asset, "db-1").await;
    let (_, _, html) = app
        .browse(&format!("/incidents/{incident}"), &admin, None)
        .await;
    assert!(
        html.contains("id=\"runbooks\"") && html.contains("<h1>Steps</h1>"),
        "{html}"
    );
    assert!(html.contains("Restart postgres"));
    let id: i64 = location
        .trim_start_matches("/incidents/runbooks/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // The button leads to what will run where, and only the confirmation runs it.
    let (s, _, html) = app
        .browse(
            &format!("/incidents/{incident}/actions/confirm?runbook={id}&action=restart"),
            &admin,
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        html.contains("/bin/systemctl restart postgresql") && html.contains("db-1"),
        "{html}"
    );
    let (_, commands) = app
        .call(
            "GET",
            &format!("/api/v1/agents/{agent}/commands"),
            &admin,
            None,
        )
        .await;
    assert_eq!(commands, json!([]), "nothing runs before the confirmation");
    let (s, location, _) = app
        .browse(
            &format!("/incidents/{incident}/actions"),
            &admin,
            Some(&format!(
                "runbook_id={id}&action=restart&asset_id={asset}&confirm=yes"
            )),
        )
        .await;
    assert_eq!(
        (s, location.as_str()),
        (303, &*format!("/incidents/{incident}?done=ran#timeline"))
    );
    // The agent's next poll carries it.
    let poll = json!({"config_version": 0, "wait_s": 0, "running": []});
    let reply: Value = app
        .http
        .post(format!("{}/api/v1/agent/poll", app.base))
        .bearer_auth(&credential)
        .json(&poll)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        reply["commands"][0]["spec"]["argv"],
        json!(["/bin/systemctl", "restart", "postgresql"]),
        "{reply}"
    );
    let (_, _, html) = app
        .browse(&format!("/incidents/{incident}"), &admin, None)
        .await;
    assert!(
        html.contains("admin launched restart on db-1")
            || html.contains("ops launched restart on db-1"),
        "{html}"
    );
}
