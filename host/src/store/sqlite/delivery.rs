//! sqlite side of delivery control: pause, recoveries, alerts.
