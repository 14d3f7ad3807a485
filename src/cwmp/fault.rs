//! SOAP Faults carrying a `cwmp:Fault` detail (TR-069 §A.5), in both directions.
//!
//! The CPE answers an ACS request it cannot honour with a fault in place of the response
//! (codes 9000–9899); the ACS answers a CPE request the same way (8000–8899).

use std::fmt;

use super::xml::{Element, Writer};
use super::{ArgError, ArgResult, decode_util as du};

macro_rules! fault_codes {
    ($( $variant:ident = $code:literal, $client:literal, $name:literal; )*) => {
        /// Every fault code the CWMP schemas define (cwmp-1-2.xsd CPEFaultCodeType, cwmp-1-4.xsd
        /// ACSFaultCodeType), with its name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum FaultCode {
            $( #[doc = $name] $variant = $code, )*
        }

        impl FaultCode {
            /// Every defined code, in numeric order.
            pub const ALL: &'static [FaultCode] = &[$(FaultCode::$variant),*];

            /// The code's number.
            pub fn code(self) -> u32 {
                self as u32
            }

            /// The name the schema gives the code (used as the default FaultString).
            pub fn name(self) -> &'static str {
                match self { $( FaultCode::$variant => $name, )* }
            }

            /// Looks a number up.
            pub fn from_code(code: u32) -> Option<FaultCode> {
                match code { $( $code => Some(FaultCode::$variant), )* _ => None }
            }

            /// `Client` when the request itself was at fault, `Server` otherwise (§A.5.1).
            pub fn soap_faultcode(self) -> &'static str {
                match self { $( FaultCode::$variant => if $client { "Client" } else { "Server" }, )* }
            }
        }
    };
}

fault_codes! {
    MethodNotSupported = 9000, false, "Method not supported";
    RequestDenied = 9001, false, "Request denied (no reason specified)";
    InternalError = 9002, false, "Internal error";
    InvalidArguments = 9003, true, "Invalid arguments";
    ResourcesExceeded = 9004, false, "Resources exceeded";
    InvalidParameterName = 9005, true, "Invalid parameter name";
    InvalidParameterType = 9006, true, "Invalid parameter type";
    InvalidParameterValue = 9007, true, "Invalid parameter value";
    NonWritableParameter = 9008, true, "Attempt to set a non-writable parameter";
    NotificationRequestRejected = 9009, false, "Notification request rejected";
    FileTransferFailure = 9010, false, "File transfer failure";
    UploadFailure = 9011, false, "Upload failure";
    FileTransferServerAuthenticationFailure = 9012, false, "File transfer server authentication failure";
    UnsupportedProtocolForFileTransfer = 9013, false, "Unsupported protocol for file transfer";
    UnableToJoinMulticastGroup = 9014, false, "File transfer failure: unable to join multicast group";
    UnableToContactFileServer = 9015, false, "File transfer failure: unable to contact file server";
    UnableToAccessFile = 9016, false, "File transfer failure: unable to access file";
    UnableToCompleteDownload = 9017, false, "File transfer failure: unable to complete download";
    FileCorrupted = 9018, false, "File transfer failure: file corrupted";
    FileAuthenticationFailure = 9019, false, "File transfer failure: file authentication failure";
    DownloadOutsideTimeWindows = 9020, false, "File transfer failure: unable to complete download within specified time windows";
    CancelationNotPermitted = 9021, false, "Cancelation of file transfer not permitted in current transfer state";
    InvalidUuidFormat = 9022, true, "Invalid UUID Format";
    UnknownExecutionEnvironment = 9023, true, "Unknown Execution Environment";
    DisabledExecutionEnvironment = 9024, false, "Disabled Execution Environment";
    DeploymentUnitExecutionEnvironmentMismatch = 9025, true, "Deployment Unit to Execution Environment Mismatch";
    DuplicateDeploymentUnit = 9026, true, "Duplicate Deployment Unit";
    SystemResourcesExceeded = 9027, false, "System Resources Exceeded";
    UnknownDeploymentUnit = 9028, true, "Unknown Deployment Unit";
    InvalidDeploymentUnitState = 9029, true, "Invalid Deployment Unit State";
    DowngradeNotPermitted = 9030, true, "Invalid Deployment Unit Update - Downgrade not permitted";
    VersionNotSpecified = 9031, true, "Invalid Deployment Unit Update - Version not specified";
    VersionAlreadyExists = 9032, true, "Invalid Deployment Unit Update - Version already exists";
    AcsMethodNotSupported = 8000, false, "Method not supported";
    AcsRequestDenied = 8001, false, "Request denied (no reason specified)";
    AcsInternalError = 8002, false, "Internal error";
    AcsInvalidArguments = 8003, true, "Invalid arguments";
    AcsResourcesExceeded = 8004, false, "Resources exceeded";
    RetryRequest = 8005, false, "Retry request";
    AcsVersionIncompatible = 8006, false, "ACS version incompatible with CPE";
}

impl fmt::Display for FaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.name())
    }
}

/// One failing parameter of a SetParameterValues (inside a 9003 fault).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SetParameterValuesFault {
    pub parameter_name: String,
    pub fault_code: u32,
    pub fault_string: String,
}

impl SetParameterValuesFault {
    pub fn new(parameter_name: impl Into<String>, code: FaultCode, detail: Option<&str>) -> Self {
        SetParameterValuesFault {
            parameter_name: parameter_name.into(),
            fault_code: code.code(),
            fault_string: match detail {
                Some(d) => format!("{}: {d}", code.name()),
                None => code.name().to_owned(),
            },
        }
    }
}

/// A SOAP Fault with its `cwmp:Fault` detail.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fault {
    /// SOAP `faultcode`: `Client` or `Server` (unqualified, as GenieACS reads it).
    pub soap_faultcode: String,
    /// SOAP `faultstring`: "CWMP fault" by convention.
    pub soap_faultstring: String,
    /// The CWMP FaultCode (kept as a number: vendor codes 8800–8899/9800–9899 have no name).
    pub code: u32,
    pub string: String,
    /// Only for SetParameterValues (9003).
    pub set_parameter_values_faults: Vec<SetParameterValuesFault>,
}

impl Fault {
    /// A fault with the code's name as FaultString.
    pub fn new(code: FaultCode) -> Fault {
        Fault::with_string(code, code.name())
    }

    /// A fault with an explanatory FaultString.
    pub fn with_string(code: FaultCode, string: impl Into<String>) -> Fault {
        Fault {
            soap_faultcode: code.soap_faultcode().to_owned(),
            soap_faultstring: "CWMP fault".to_owned(),
            code: code.code(),
            string: string.into(),
            set_parameter_values_faults: Vec::new(),
        }
    }

    /// The 9003 fault carrying one entry per failing parameter of a SetParameterValues.
    pub fn set_parameter_values(faults: Vec<SetParameterValuesFault>) -> Fault {
        Fault {
            set_parameter_values_faults: faults,
            ..Fault::new(FaultCode::InvalidArguments)
        }
    }

    /// The named code, when the number is one the schemas define.
    pub fn fault_code(&self) -> Option<FaultCode> {
        FaultCode::from_code(self.code)
    }

    /// Writes `<soap-env:Fault>…</soap-env:Fault>`, the whole Body content.
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.open("soap-env:Fault");
        w.text_element("faultcode", &self.soap_faultcode);
        w.text_element("faultstring", &self.soap_faultstring);
        w.open("detail");
        w.open("cwmp:Fault");
        w.number_element("FaultCode", self.code);
        w.text_element("FaultString", &self.string);
        for f in &self.set_parameter_values_faults {
            w.open("SetParameterValuesFault");
            w.text_element("ParameterName", &f.parameter_name);
            w.number_element("FaultCode", f.fault_code);
            w.text_element("FaultString", &f.fault_string);
            w.close("SetParameterValuesFault");
        }
        w.close("cwmp:Fault");
        w.close("detail");
        w.close("soap-env:Fault");
    }

    /// Reads a SOAP Fault element. Lenient: the `cwmp:Fault` detail is found by local name, and a
    /// fault without a detail keeps FaultCode 0 so the caller can still report the SOAP text.
    pub(crate) fn decode(el: &Element) -> ArgResult<Fault> {
        let soap_faultcode = el
            .child("faultcode")
            .map(|e| e.trimmed_text().to_owned())
            .unwrap_or_default();
        let soap_faultstring = el
            .child("faultstring")
            .map(|e| e.trimmed_text().to_owned())
            .unwrap_or_default();
        let detail = el.child("detail").and_then(|d| d.child("Fault"));
        let Some(detail) = detail else {
            if soap_faultcode.is_empty() && soap_faultstring.is_empty() {
                return Err(ArgError::missing("detail"));
            }
            return Ok(Fault {
                soap_faultcode,
                soap_faultstring,
                code: 0,
                string: String::new(),
                set_parameter_values_faults: Vec::new(),
            });
        };
        let code = du::u32_child(detail, "FaultCode")?;
        let string = du::opt_string(detail, "FaultString");
        let mut spv = Vec::new();
        for item in detail.children_named("SetParameterValuesFault") {
            spv.push(SetParameterValuesFault {
                parameter_name: du::string(item, "ParameterName")?,
                fault_code: du::u32_child(item, "FaultCode")?,
                fault_string: du::opt_string(item, "FaultString"),
            });
        }
        Ok(Fault {
            soap_faultcode,
            soap_faultstring,
            code,
            string,
            set_parameter_values_faults: spv,
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.fault_code() {
            Some(code) if self.string.is_empty() || self.string == code.name() => {
                write!(f, "fault {code}")
            }
            Some(code) => write!(f, "fault {code}: {}", self.string),
            None => write!(f, "fault {}: {}", self.code, self.string),
        }
    }
}

/// The FaultStruct of TransferComplete, AutonomousTransferComplete and the DU results:
/// FaultCode 0 means success.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FaultStruct {
    pub fault_code: u32,
    pub fault_string: String,
}

impl FaultStruct {
    /// The success value (FaultCode 0, empty FaultString).
    pub fn success() -> FaultStruct {
        FaultStruct::default()
    }

    pub fn new(code: FaultCode, string: impl Into<String>) -> FaultStruct {
        FaultStruct {
            fault_code: code.code(),
            fault_string: string.into(),
        }
    }

    pub fn is_success(&self) -> bool {
        self.fault_code == 0
    }

    /// Writes `<name><FaultCode/><FaultString/></name>`.
    pub(crate) fn encode(&self, w: &mut Writer, name: &str) {
        w.open(name);
        w.number_element("FaultCode", self.fault_code);
        w.text_element("FaultString", &self.fault_string);
        w.close(name);
    }

    /// Reads the struct named `name` inside `parent`.
    pub(crate) fn decode(parent: &Element, name: &str) -> ArgResult<FaultStruct> {
        let el = du::req(parent, name)?;
        Ok(FaultStruct {
            fault_code: du::u32_child(el, "FaultCode")?,
            fault_string: du::opt_string(el, "FaultString"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_complete_and_named() {
        for code in (9000..=9032).chain(8000..=8006) {
            let fc = FaultCode::from_code(code).unwrap_or_else(|| panic!("{code} missing"));
            assert_eq!(fc.code(), code);
            assert!(!fc.name().is_empty());
        }
        assert_eq!(FaultCode::ALL.len(), 40);
        assert_eq!(FaultCode::from_code(9033), None);
        assert_eq!(FaultCode::InvalidArguments.soap_faultcode(), "Client");
        assert_eq!(FaultCode::InternalError.soap_faultcode(), "Server");
    }
}
