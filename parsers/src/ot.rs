//! Vocabulary shared by the OT protocol parsers.

/// What an OT request does, from a defender's point of view. Every OT parser
/// maps each of its function, service or command codes onto one class; the
/// engine's `--ot-events changes` logs every class except `Read`, `Recon`
/// and `Cyclic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OtClass {
    /// Reads process data (registers, coils, device memory).
    Read,
    /// Writes process data.
    Write,
    /// Changes controller state: RUN, STOP, PAUSE, RESET, clear memory, set time.
    Control,
    /// Program upload or download, program block changes, firmware-like changes.
    Program,
    /// File operations on the controller.
    File,
    /// Logon, password unlock/lock, privilege changes, user registration.
    Auth,
    /// Identification and status queries (device id, CPU model, status).
    Recon,
    /// Diagnostics (echo, counters, event logs, clear errors).
    Diagnostic,
    /// Periodic/cyclic data exchange (EGD production, CC-Link cyclic).
    Cyclic,
    /// Anything not classified.
    Other,
}

impl OtClass {
    /// The lower-case name used in EVE output.
    pub fn name(self) -> &'static str {
        match self {
            OtClass::Read => "read",
            OtClass::Write => "write",
            OtClass::Control => "control",
            OtClass::Program => "program",
            OtClass::File => "file",
            OtClass::Auth => "auth",
            OtClass::Recon => "recon",
            OtClass::Diagnostic => "diagnostic",
            OtClass::Cyclic => "cyclic",
            OtClass::Other => "other",
        }
    }

    /// True for classes that change something on the device (logged by
    /// `--ot-events changes`).
    pub fn is_change(self) -> bool {
        !matches!(self, OtClass::Read | OtClass::Recon | OtClass::Cyclic)
    }
}
