namespace FedMM.Learning.Training;

/// <summary>Seeds derived from the federation seed, stable across processes (unlike string.GetHashCode).</summary>
public static class DeterministicSeed
{
    /// <summary>A seed for <paramref name="purpose"/> of site <paramref name="clientId"/> in <paramref name="round"/>.</summary>
    public static int For(int seed, string purpose, string clientId = "", int round = 0)
    {
        unchecked
        {
            uint hash = 2166136261;
            foreach (char ch in $"{seed}|{purpose}|{clientId}|{round}")
                hash = (hash ^ ch) * 16777619;
            return (int)(hash & 0x7FFFFFFF);
        }
    }
}
