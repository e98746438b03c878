//! Role OIDs: the byte constants decode to the dotted OIDs; parsing and display.

use std::borrow::Cow;

use x509_parser::der_parser::oid::Oid;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{member, new_ca};
use crate::identity::{AUDITOR_ROLE_OID_DER, PROVIDER_ROLE_OID_DER, Role};

#[test]
fn oid_bytes_decode_to_the_dotted_strings() {
    let provider = Oid::new(Cow::Borrowed(PROVIDER_ROLE_OID_DER));
    let auditor = Oid::new(Cow::Borrowed(AUDITOR_ROLE_OID_DER));
    assert_eq!(
        provider.to_id_string(),
        "2.25.115109034002040678192608669639758688727.1"
    );
    assert_eq!(
        auditor.to_id_string(),
        "2.25.115109034002040678192608669639758688727.2"
    );
    assert_eq!(Role::Provider.oid_dotted(), provider.to_id_string());
    assert_eq!(Role::Auditor.oid_dotted(), auditor.to_id_string());
}

#[test]
fn eku_extension_value_is_a_sequence_of_one_oid() {
    for role in Role::ALL {
        let value = role.eku_extension_value();
        let (rest, eku) =
            x509_parser::extensions::ExtendedKeyUsage::from_der(&value).expect("valid EKU DER");
        assert!(rest.is_empty());
        assert_eq!(eku.other.len(), 1);
        assert_eq!(eku.other[0].to_id_string(), role.oid_dotted());
        assert_eq!(eku.other[0].as_bytes(), role.oid_der());
    }
}

#[test]
fn issued_certificate_carries_the_role_oid_non_critical() {
    let ca = new_ca("Consortium");
    let m = member(&ca, Role::Auditor, "St Mary");
    let (_, cert) = X509Certificate::from_der(&m.cert_der).unwrap();
    let eku = cert.extended_key_usage().unwrap().unwrap();
    assert!(!eku.critical);
    assert_eq!(eku.value.other.len(), 1);
    assert_eq!(
        eku.value.other[0].to_id_string(),
        Role::Auditor.oid_dotted()
    );
}

#[test]
fn display_and_from_str() {
    assert_eq!(Role::Provider.to_string(), "provider");
    assert_eq!(Role::Auditor.to_string(), "auditor");
    assert_eq!("provider".parse::<Role>().unwrap(), Role::Provider);
    assert_eq!(" Auditor ".parse::<Role>().unwrap(), Role::Auditor);
    assert!("admin".parse::<Role>().is_err());
}
