using System.Security.Cryptography;
using System.Text;

namespace FedMM.Grains.Clients;

/// <summary>Site tokens: 256 random bits, base64url; stored only as their SHA-256.</summary>
public static class ClientTokens
{
    /// <summary>A new random token.</summary>
    public static string Create() => Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>Lower-case hex SHA-256 of the token's UTF-8 bytes.</summary>
    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>Constant-time comparison of two token hashes (hash a token once, compare it with many).</summary>
    public static bool HashesEqual(string hash, string expectedHash) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(hash), Encoding.ASCII.GetBytes(expectedHash));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
