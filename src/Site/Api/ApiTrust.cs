using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace FedMM.Site.Api;

/// <summary>
/// Which certificates an HTTPS connection to the API is checked against: by default the machine's
/// trust store; with a CA file (a private CA, or the API's own self-signed certificate) only the
/// certificates in that file are trusted as roots. The host name is checked either way.
/// </summary>
public static class ApiTrust
{
    /// <summary>
    /// A handler that trusts as roots exactly the certificates in <paramref name="caFile"/> (PEM, one
    /// or more certificates, or one DER certificate); throws <see cref="InvalidDataException"/>
    /// naming the file when it holds no certificate.
    /// </summary>
    public static SocketsHttpHandler Handler(string caFile)
    {
        var roots = Load(caFile);
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.AddRange(roots);
        return new SocketsHttpHandler { SslOptions = new SslClientAuthenticationOptions { CertificateChainPolicy = policy } };
    }

    /// <summary>The certificates in <paramref name="caFile"/> (PEM or DER).</summary>
    public static X509Certificate2Collection Load(string caFile)
    {
        if (!File.Exists(caFile)) throw new FileNotFoundException($"CA certificate file {caFile} does not exist.", caFile);
        var certificates = new X509Certificate2Collection();
        try
        {
            string text = File.ReadAllText(caFile);
            if (text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal)) certificates.ImportFromPem(text);
            else certificates.Add(X509CertificateLoader.LoadCertificateFromFile(caFile));
        }
        catch (CryptographicException e)
        {
            throw new InvalidDataException($"CA certificate file {caFile} holds no readable certificate (PEM or DER expected): {e.Message}", e);
        }
        if (certificates.Count == 0) throw new InvalidDataException($"CA certificate file {caFile} holds no certificate (PEM 'BEGIN CERTIFICATE' blocks or one DER certificate expected).");
        return certificates;
    }
}
