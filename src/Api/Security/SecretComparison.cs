using System.Security.Cryptography;
using System.Text;

namespace FedMM.Api.Security;

/// <summary>Constant-time comparison and hashing of secrets (admin key, site tokens).</summary>
public static class SecretComparison
{
    /// <summary>True when both strings are equal, in time independent of where they differ.</summary>
    public static bool FixedTimeEquals(string presented, string expected) =>
        CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(presented)),
            SHA256.HashData(Encoding.UTF8.GetBytes(expected)));
}
