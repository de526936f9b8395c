public import Foundation
public import TLSKit
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509

extension TLSContextHooks {
    /// Hooks with the Web PKI profile as their one verification policy (see
    /// ``TLSVerificationPolicy/webPKI(verificationTime:)``). To combine it with other
    /// policies, use `hooks.addVerificationPolicy(.webPKI())` instead.
    public static func webPKI(verificationTime: Date? = nil, logger: TLSContextHooks = TLSContextHooks()) -> TLSContextHooks {
        var hooks = logger
        hooks.addVerificationPolicy(.webPKI(verificationTime: verificationTime))
        return hooks
    }
}

extension TLSVerificationPolicy {
    /// The Web PKI profile: after the backend's own verification (an RFC 5280 path check
    /// that, for OpenSSL, accepts much the Web PKI forbids), the verified chain is checked
    /// again with swift-certificates' verifier and policies — RFC 5280 rules, the server
    /// identity (subjectAltName only), and the profile rules: the leaf must carry an
    /// extended key usage that allows this use, must not be a CA, must be X.509 v3 and must
    /// have a subjectAltName. It needs a chain the backend verified: with chain
    /// verification switched off, or with pinned keys, it rejects.
    ///
    /// - Parameter verificationTime: the time to verify at (default: now).
    /// - Note: swift-certificates' verifier is `async`; the policy waits for it on a detached
    ///   task. Do not drive connections with this policy from threads of Swift's cooperative
    ///   pool.
    public static func webPKI(verificationTime: Date? = nil) -> TLSVerificationPolicy {
        TLSVerificationPolicy(name: "webPKI") { request in TLSWebPKI.evaluate(request, at: verificationTime) }
    }
}

/// The Web PKI profile, as a peer-verification hook (see ``TLSContextHooks/webPKI(verificationTime:logger:)``).
public enum TLSWebPKI {
    /// Checks `request`'s chain against the profile; the verdict for the hook.
    /// - Parameter time: the time to verify at; `nil`: now.
    public static func evaluate(_ request: TLSPeerVerificationRequest, at time: Date?) -> TLSPeerVerificationDecision {
        guard !request.verifiedChain.isEmpty, request.backendVerification == .verified else {
            return .reject(
                "Web PKI profile: the backend did not verify the chain (certificate verification is off or the chain is "
                    + "pinned), so the profile cannot be applied")
        }
        let fixedTime = time
        let parsed = request.verifiedChain.compactMap { try? Certificate(derEncoded: $0) }
        guard parsed.count == request.verifiedChain.count, let leaf = parsed.first, let root = parsed.last else {
            return .reject("the verified chain cannot be parsed")
        }
        let intermediates = Array(parsed.dropFirst().dropLast())
        let side = request.side
        var host: String?
        var ip: String?
        if side == .client, let name = request.serverName {
            if (try? TLSServerName(name))?.ipAddress != nil { ip = name } else { host = name }
        }
        let (hostname, address) = (host, ip)
        return waitFor {
            var verifier = Verifier(rootCertificates: CertificateStore([root])) {
                if let fixed = fixedTime {
                    RFC5280Policy(fixedExpiryValidationTime: fixed)
                } else {
                    RFC5280Policy()
                }
                if side == .client { ServerIdentityPolicy(serverHostname: hostname, serverIP: address) }
                WebPKIProfilePolicy(purpose: side == .client ? .serverAuth : .clientAuth)
            }
            switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(intermediates)) {
            case .validCertificate:
                return .accept
            case .couldNotValidate(let failures):
                let reasons = failures.map { "\($0.policyFailureReason)" }
                return .reject("Web PKI profile: " + (reasons.first ?? "no valid chain"))
            }
        }
    }

    private final class Box: @unchecked Sendable {
        // @unchecked: written once by the task before the semaphore is signalled.
        var value: TLSPeerVerificationDecision = .reject("verification did not finish")
    }

    private static func waitFor(_ body: @escaping @Sendable () async -> TLSPeerVerificationDecision) -> TLSPeerVerificationDecision {
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            box.value = await body()
            done.signal()
        }
        done.wait()
        return box.value
    }
}

/// The Web PKI rules (CA/Browser Forum baseline requirements, RFC 5280 "MUST"s) that
/// swift-certificates' RFC 5280 policy leaves to the profile.
struct WebPKIProfilePolicy: VerifierPolicy {
    let purpose: ExtendedKeyUsage.Usage

    var verifyingCriticalExtensions: [ASN1ObjectIdentifier] { [.X509ExtensionID.extendedKeyUsage] }

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        let leaf = chain.leaf
        let certificates = Array(chain)
        for (index, certificate) in certificates.enumerated() {
            let isLeaf = index == 0
            let isRoot = index == certificates.count - 1
            let serial = Array(certificate.serialNumber.bytes)
            if serial.allSatisfy({ $0 == 0 }) { return .failsToMeetPolicy(reason: "a certificate has serial number 0") }
            if serial.count > 20 { return .failsToMeetPolicy(reason: "a serial number is longer than 20 octets") }
            if !isRoot || certificates.count == 1 {
                if ((try? certificate.extensions.authorityKeyIdentifier) ?? nil) == nil {
                    return .failsToMeetPolicy(reason: "a certificate has no authority key identifier")
                }
            }
            if !isLeaf, ((try? certificate.extensions.subjectKeyIdentifier) ?? nil) == nil {
                return .failsToMeetPolicy(reason: "a CA certificate has no subject key identifier")
            }
            if !isLeaf, let constraints = certificate.extensions[oid: .X509ExtensionID.basicConstraints], !constraints.critical {
                return .failsToMeetPolicy(reason: "a CA certificate's basicConstraints is not critical")
            }
            if isRoot, !isLeaf, certificate.extensions[oid: .X509ExtensionID.extendedKeyUsage] != nil {
                return .failsToMeetPolicy(reason: "the root has an extended key usage")
            }
            let policyConstraintsOID: ASN1ObjectIdentifier = [2, 5, 29, 36]
            if let policyConstraints = certificate.extensions[oid: policyConstraintsOID], !policyConstraints.critical {
                return .failsToMeetPolicy(reason: "policyConstraints is not critical")
            }
        }
        if leaf.extensions[oid: .X509ExtensionID.nameConstraints] != nil {
            return .failsToMeetPolicy(reason: "the leaf carries name constraints")
        }
        if let usage = try? leaf.extensions.keyUsage, usage.keyCertSign {
            return .failsToMeetPolicy(reason: "the leaf's key usage allows certificate signing")
        }
        if let ekuExtension = leaf.extensions[oid: .X509ExtensionID.extendedKeyUsage], ekuExtension.critical {
            return .failsToMeetPolicy(reason: "the leaf's extended key usage is critical")
        }
        if let eku = try? leaf.extensions.extendedKeyUsage, eku.contains(.any) {
            return .failsToMeetPolicy(reason: "the leaf allows any extended key usage")
        }
        if let san = leaf.extensions[oid: .X509ExtensionID.subjectAlternativeName], san.critical, !leaf.subject.isEmpty {
            return .failsToMeetPolicy(reason: "subjectAltName is critical although the subject is not empty")
        }
        // A common name must repeat one of the subjectAltNames exactly.
        let names = Set(TLSCertificateNames.names(of: leaf).map { String($0.split(separator: ":", maxSplits: 1)[1]) })
        for rdn in leaf.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                let cn = String(describing: attribute.value)
                if !names.contains(cn) {
                    return .failsToMeetPolicy(reason: "the common name \(cn) is not among the subjectAltNames")
                }
            }
        }
        guard leaf.version == .v3 else { return .failsToMeetPolicy(reason: "the leaf is not an X.509 v3 certificate") }
        guard let eku = try? leaf.extensions.extendedKeyUsage else {
            return .failsToMeetPolicy(reason: "the leaf has no extended key usage")
        }
        guard eku.contains(purpose) else {
            return .failsToMeetPolicy(reason: "the leaf's extended key usage does not allow \(purpose)")
        }
        if let constraints = try? leaf.extensions.basicConstraints, case .isCertificateAuthority = constraints {
            return .failsToMeetPolicy(reason: "the leaf is a CA certificate")
        }
        guard (try? leaf.extensions.subjectAlternativeNames) != nil else {
            return .failsToMeetPolicy(reason: "the leaf has no subjectAltName")
        }
        return .meetsPolicy
    }
}
