//! Keeps the load generator working: a short run against a real app.
//! It asserts counts (every session joined, every delivery arrived), never
//! timings; the figures themselves belong in docs/BENCHMARKS.md.

use ecommerce::configuration::Settings;
use ecommerce::startup::Application;
use serde_json::Value;

const ADMIN_EMAIL: &str = "admin@loadtest.test";
const ADMIN_PASSWORD: &str = "admin-password";

/// The real server on port 0 with a temporary data dir and an admin.
struct TestApp {
    port: u16,
    _data: tempfile::TempDir,
}

impl TestApp {
    async fn spawn() -> TestApp {
        let data = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::defaults().expect("default settings");
        settings.server.host = "127.0.0.1".to_owned();
        settings.server.port = 0;
        settings.server.workers = 2;
        settings.store.data_dir = data.path().join("data");
        settings.uploads.dir = data.path().join("uploads");
        settings.users.admin_email = ADMIN_EMAIL.to_owned();
        settings.users.admin_password = ADMIN_PASSWORD.to_owned().into();
        let application = Application::build(settings).await.expect("app builds");
        let port = application.port();
        actix_web::rt::spawn(application.run_until_stopped());
        TestApp { port, _data: data }
    }
}

async fn run_loadtest(app: &TestApp, args: &[&str]) -> Value {
    // The app's actors live on this test's thread: wait without blocking it.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .arg("--server")
        .arg(format!("127.0.0.1:{}", app.port))
        .args(args)
        .arg("--json")
        .output()
        .await
        .expect("loadtest runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "loadtest failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = &stdout[stdout.find("\n{").expect("JSON report") + 1..];
    serde_json::from_str(json).expect("the report is JSON")
}

#[actix_web::test]
async fn the_chat_scenario_holds_every_session_and_delivers_every_message() {
    let app = TestApp::spawn().await;
    let report = run_loadtest(
        &app,
        &[
            "--sessions",
            "300",
            "--connect-rate",
            "2000",
            "--senders",
            "3",
            "--send-rate",
            "6",
            "--duration",
            "2",
        ],
    )
    .await;
    assert_eq!(report["sessions_joined"], 300, "{report}");
    assert_eq!(report["sessions_held"], 300);
    assert_eq!(report["connect_failures"], 0);
    assert_eq!(report["error_events"], 0);
    assert!(report["messages_sent"].as_u64().unwrap() > 0);
    assert_eq!(report["deliveries"], report["deliveries_expected"], "{report}");
    assert!(report["latency_ms"].is_array(), "latency was measured");
}

#[actix_web::test]
async fn the_products_scenario_delivers_rest_updates_to_every_session() {
    let app = TestApp::spawn().await;
    let report = run_loadtest(
        &app,
        &[
            "--scenario",
            "products",
            "--sessions",
            "200",
            "--send-rate",
            "5",
            "--duration",
            "2",
            "--admin-email",
            ADMIN_EMAIL,
            "--admin-password",
            ADMIN_PASSWORD,
        ],
    )
    .await;
    assert_eq!(report["sessions_joined"], 200, "{report}");
    assert_eq!(report["error_events"], 0, "{report}");
    assert!(report["messages_sent"].as_u64().unwrap() > 0);
    assert_eq!(report["deliveries"], report["deliveries_expected"], "{report}");
}
