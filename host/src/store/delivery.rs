//! Store side of delivery control: pause, recoveries, alerts, gauges.
