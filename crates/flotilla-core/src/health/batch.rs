//! The `batch` group: Jobs run to completion; CronJobs only schedule them.

use serde_json::Value;

use super::{Health, condition, int, name};

/// The health of a Job. `Failed=True` → Degraded, with the condition's
/// message; `Complete=True` → Healthy; anything else (running, suspended,
/// not started, about to fail) → Progressing.
pub fn job(object: &Value) -> Health {
    if let Some(failed) = condition(object, "Failed").filter(|c| c.is_true()) {
        let why = failed.describe();
        return Health::degraded(if why.is_empty() {
            format!("Job {:?} failed", name(object))
        } else {
            why
        });
    }
    if let Some(complete) = condition(object, "Complete").filter(|c| c.is_true()) {
        return Health::healthy(complete.message);
    }
    if condition(object, "Suspended").is_some_and(|c| c.is_true()) {
        return Health::progressing("suspended");
    }
    if let Some(failing) = condition(object, "FailureTarget").filter(|c| c.is_true()) {
        return Health::progressing(format!("failing: {}", failing.describe()));
    }
    let count = |field: &str| int(object, &format!("/status/{field}")).unwrap_or(0);
    Health::progressing(format!(
        "Job running: {} active, {} succeeded, {} failed pods",
        count("active"),
        count("succeeded"),
        count("failed")
    ))
}

/// The health of a CronJob: always Healthy (the Jobs it creates carry their
/// own health; a suspended CronJob says so in the message).
pub fn cron_job(object: &Value) -> Health {
    if object.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return Health::healthy("suspended");
    }
    Health::healthy("")
}
