using FedMM.Grains.Interfaces.Models;

namespace FedMM.Grains.Rounds;

/// <summary>
/// Which upload of each site may run now: one lease per (round, site), held by one upload id until
/// it submits, hands it back, or its time runs out without a renewal. In memory, since a lease is short and one lost
/// with the activation only lets a second upload start sooner (its create-only commits still never
/// overwrite a blob). Being the round grain's, the lease holds across API processes.
/// </summary>
public sealed class UploadLeases
{
    private readonly Dictionary<string, (Guid Upload, DateTimeOffset Until)> held = [];

    /// <summary>Grants the lease of <paramref name="clientId"/> to <paramref name="uploadId"/> until <paramref name="now"/> + <paramref name="duration"/>, unless another upload holds it.</summary>
    public UploadLease Take(string clientId, Guid uploadId, DateTimeOffset now, TimeSpan duration)
    {
        if (held.TryGetValue(clientId, out var lease) && lease.Upload != uploadId && lease.Until > now)
            return UploadLease.HeldByAnother;
        held[clientId] = (uploadId, now + duration);
        return UploadLease.Granted;
    }

    /// <summary>Extends the lease of <paramref name="clientId"/> to <paramref name="now"/> + <paramref name="duration"/> if <paramref name="uploadId"/> holds it; whether it does.</summary>
    public bool Renew(string clientId, Guid uploadId, DateTimeOffset now, TimeSpan duration)
    {
        if (!held.TryGetValue(clientId, out var lease) || lease.Upload != uploadId) return false;
        // A lease that ran out may have let another upload start; only one no other upload took is extended.
        held[clientId] = (uploadId, now + duration);
        return true;
    }

    /// <summary>Hands the lease back if <paramref name="uploadId"/> holds it.</summary>
    public void Release(string clientId, Guid uploadId)
    {
        if (held.TryGetValue(clientId, out var lease) && lease.Upload == uploadId) held.Remove(clientId);
    }

    /// <summary>Ends the lease of <paramref name="clientId"/>, whoever holds it (its update was submitted).</summary>
    public void End(string clientId) => held.Remove(clientId);
}
