//! The manager's side of the blade-agent stream. (Being built for the
//! rack-simulator issue.)
