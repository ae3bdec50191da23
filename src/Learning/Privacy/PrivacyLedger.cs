using System.Text.Json;
using FedMM.Contracts;

namespace FedMM.Learning.Privacy;

/// <summary>
/// A site's record of every differentially private mechanism it ran, round by round, and the
/// budget they spend (docs/PRIVACY.md): one <see cref="PrivacyAccountant"/> composes them all, a
/// round whose planned mechanisms would pass privacy.targetEpsilon is refused before it runs, and
/// the record is kept in the site's private folder so that a restarted site does not start over.
/// </summary>
/// <remarks>A round that runs again (a retried round) is counted again: the release may have left the site.</remarks>
public sealed class PrivacyLedger
{
    /// <summary>File of the ledger in a site's private folder.</summary>
    public const string FileName = "privacy.json";

    private readonly List<LedgerEntry> entries = [];
    private readonly PrivacyAccountant accountant = new();

    /// <summary>A ledger for a site of <paramref name="trainSamples"/> records under <paramref name="privacy"/>.</summary>
    public PrivacyLedger(PrivacyConfig privacy, int trainSamples)
    {
        ArgumentNullException.ThrowIfNull(privacy);
        ArgumentOutOfRangeException.ThrowIfLessThan(trainSamples, 1);
        Delta = DeltaFor(privacy, trainSamples);
        TargetEpsilon = privacy.TargetEpsilon;
    }

    /// <summary>δ every ε of the site holds at: privacy.delta, or 1/(10·n) for a site of n training records.</summary>
    public double Delta { get; }

    /// <summary>The site's budget, privacy.targetEpsilon.</summary>
    public double TargetEpsilon { get; }

    /// <summary>The mechanisms of every round recorded so far, in order.</summary>
    public IReadOnlyList<LedgerEntry> Entries => entries;

    /// <summary>ε spent so far at <see cref="Delta"/>.</summary>
    public double Epsilon => accountant.Epsilon(Delta);

    /// <summary>δ of a site: privacy.delta when set, else 1/(10·n).</summary>
    public static double DeltaFor(PrivacyConfig privacy, int trainSamples) => privacy.Delta ?? 1.0 / (10.0 * trainSamples);

    /// <summary>
    /// Refuses round <paramref name="round"/> of <paramref name="clientId"/> when running
    /// <paramref name="planned"/> would take ε past the budget.
    /// </summary>
    /// <exception cref="PrivacyBudgetException">The budget would be exceeded; the message says by how much.</exception>
    public void CheckBudget(string clientId, int round, IReadOnlyList<PrivacyMechanism> planned)
    {
        if (planned.Count == 0) return;
        double after = accountant.EpsilonWith(planned, Delta);
        if (after > TargetEpsilon)
            throw new PrivacyBudgetException(
                $"Site {clientId} refuses round {round}: its mechanisms ({string.Join(", ", planned.Select(m => m.Name))}) would take ε from {Epsilon:F2} to {after:F2} at δ = {Delta:G3}, past privacy.targetEpsilon {TargetEpsilon:G4} ({entries.Select(e => e.Round).Distinct().Count()} private round(s) so far). Raise the budget or the noise, or stop training this site.");
    }

    /// <summary>Composes the mechanisms round <paramref name="round"/> ran; returns ε of that round alone and ε spent so far.</summary>
    public (double RoundEpsilon, double Epsilon) Record(int round, IReadOnlyList<PrivacyMechanism> mechanisms)
    {
        ArgumentNullException.ThrowIfNull(mechanisms);
        foreach (var mechanism in mechanisms)
        {
            accountant.Compose(mechanism);
            entries.Add(new LedgerEntry(round, mechanism));
        }
        double roundEpsilon = mechanisms.Count == 0 ? 0 : new PrivacyAccountant().EpsilonWith(mechanisms, Delta);
        return (roundEpsilon, Epsilon);
    }

    /// <summary>Writes the ledger as <see cref="FileName"/> into <paramref name="directory"/>.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, FileName);
        File.WriteAllText(path + ".partial", JsonSerializer.Serialize(entries, ContractJson.Indented));
        File.Move(path + ".partial", path, overwrite: true);
    }

    /// <summary>Reads the rounds recorded in <paramref name="directory"/>, if any, into this (empty) ledger.</summary>
    /// <exception cref="InvalidDataException">The file is not a ledger.</exception>
    public void Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) return;
        List<LedgerEntry>? stored;
        try { stored = JsonSerializer.Deserialize<List<LedgerEntry>>(File.ReadAllText(path), ContractJson.Options); }
        catch (JsonException error) { throw new InvalidDataException($"{path}: not a privacy ledger: {error.Message}", error); }
        if (entries.Count > 0) throw new InvalidOperationException("A ledger loads into an empty ledger only.");
        foreach (var entry in stored ?? [])
        {
            if (entry?.Mechanism is null || entry.Mechanism.Problems() is { Count: > 0 })
                throw new InvalidDataException($"{path}: entry of round {entry?.Round} is not a mechanism the accountant can compose.");
            Record(entry.Round, [entry.Mechanism]);
        }
    }
}

/// <summary>One mechanism a site ran in round <paramref name="Round"/>.</summary>
public sealed record LedgerEntry(int Round, PrivacyMechanism Mechanism);
