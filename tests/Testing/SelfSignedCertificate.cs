using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace FedMM.Testing;

/// <summary>A server certificate for 127.0.0.1, valid for a day, signed by its own key: what an operator makes for a private deployment.</summary>
public static class SelfSignedCertificate
{
    /// <summary>Creates the certificate (RSA 2048, server authentication, IP address 127.0.0.1 in its subject alternative names).</summary>
    public static X509Certificate2 ForLoopback()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, 0, critical: true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }
}
