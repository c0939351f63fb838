//! postgres side of delivery control: pause, recoveries, alerts.
