//! Pauses failing webhook connections and closes finished recoveries.
