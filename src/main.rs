//! The server binary: reads the settings, starts logging, raises the file
//! limit, tunes the allocator, and runs the application until SIGTERM/SIGINT.

use ecommerce::configuration::Settings;
use ecommerce::startup::{raise_open_file_limit, tune_allocator, Application};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    raise_open_file_limit();
    tune_allocator();
    let settings = Settings::load()?;
    let application = Application::build(settings).await?;
    application.run_until_stopped().await?;
    Ok(())
}
