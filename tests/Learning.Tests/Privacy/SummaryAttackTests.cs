using System.Text.Json;
using FedMM.Contracts;
using FedMM.Learning.Experiments;
using FedMM.Learning.Models;
using FedMM.Learning.Privacy;
using FedMM.Learning.Tests.Data;
using FedMM.Learning.Tests.Training;
using FedMM.Learning.Training;
using Xunit.Abstractions;

namespace FedMM.Learning.Tests.Privacy;

/// <summary>
/// The operator's attack on what sites upload (docs/PRIVACY.md, "Audit"): two image+text sites run
/// two FedMM rounds with public frozen encoders; the attacker recomputes the representations of a
/// pool of members and non-members with the adapters the sites summarised with, and matches every
/// uploaded and published row. It must identify records when protection is off, and must not
/// with the defaults.
/// </summary>
[Trait("Category", "Unit")]
[Collection(SequentialTorchRandom.Name)]
public sealed class SummaryAttackTests(ITestOutputHelper output)
{
    private const int Train = 300;

    [Fact]
    public void Without_protection_per_sample_vectors_identify_the_sites_records()
    {
        var config = TinySites.Config() with
        {
            Privacy = new PrivacyConfig { MinSupport = 1, SummaryNoiseMultiplier = 0 },
        };
        config = config with { Round = config.Round with { UploadSampleVectors = true, LocalEpochs = 1 } };
        var results = Attack(config);

        var sites = results.Where(r => r.Target != "global").ToList();
        Assert.Equal(2 * 2 * 2, sites.Count);
        foreach (var image in sites.Where(r => r.Modality == "image"))
        {
            Assert.Equal(Train + 4, image.Rows);
            Assert.Equal(0.2, image.Chance, 6);
            // Every per-sample row is its record's representation, recomputed by the attacker.
            Assert.True(image.Identification > 0.95, $"{image}: identification {image.Identification}");
            Assert.True(image.Advantage > 0.95, $"{image}: advantage {image.Advantage}");
            Assert.Equal(Train, image.HeldOut);
            // The other site's rows know nothing of this site's records.
            Assert.True(image.ControlAdvantage < 0.2, $"{image}: control {image.ControlAdvantage}");
            Assert.True(image.Auc > 0.97, $"{image}: AUC {image.Auc}");
        }
        // Texts repeat (12 distinct captions): a row is identified only as often as a guess among the equal candidates is a member.
        Assert.All(sites.Where(r => r.Modality == "text"), text => Assert.True(text.Identification < 3 * text.Chance, text.ToString()));
    }

    [Fact]
    public void With_the_default_protection_the_attack_does_no_better_than_chance()
    {
        var config = TinySites.Config();
        config = config with { Round = config.Round with { LocalEpochs = 1 } };
        Assert.Equal(5, config.Privacy.MinSupport);
        Assert.Equal(6, config.Privacy.SummaryNoiseMultiplier);
        var results = Attack(config);

        Assert.Contains(results, r => r.Target == "global");
        Assert.Equal(2 * 2 * 2, results.Count(r => r.Target != "global"));
        foreach (var result in results)
        {
            Assert.True(result.Identification <= 2 * result.Chance, $"{result}: identification {result.Identification} above 2 × chance {result.Chance}");
            Assert.True(result.Advantage <= 0.1, $"{result}: membership advantage {result.Advantage}");
            Assert.True(result.PoolAdvantage <= 0.1, $"{result}: membership advantage over the pool {result.PoolAdvantage}");
        }
    }

    [Fact]
    public void Membership_advantage_and_auc_follow_their_definitions()
    {
        // Members at distances 0 and 2, non-members at 1 and 3: the best threshold (≤ 0) keeps one member and no non-member.
        var (advantage, auc) = SummaryAttack.Membership([0.0, 1.0, 2.0, 3.0], [true, false, true, false]);
        Assert.Equal(0.5, advantage, 12);
        Assert.Equal(0.75, auc, 12);
        // Equal scores cannot be told apart.
        (advantage, auc) = SummaryAttack.Membership([1.0, 1.0, 1.0], [true, false, false]);
        Assert.Equal(0, advantage, 12);
        Assert.Equal(0.5, auc, 12);
        // The one-sided Kolmogorov–Smirnov 95 % point: 1.224 · √(1/300 + 1/1200).
        Assert.Equal(0.0790, SummaryAttack.AdvantageByChance(300, 1200), 4);
    }

    // Two FedMM rounds over two image+text sites, their artifacts recorded; the attack on them with a
    // pool of both sites' training and validation records and records no site holds.
    private IReadOnlyList<AttackResult> Attack(FederationConfig config)
    {
        using var folder = new TempDirectory();
        var sites = new[] { TinySites.Site("client_0", Modalities.Both, Train, Train, seed: 1), TinySites.Site("client_1", Modalities.Both, Train, Train, seed: 2) };
        var outside = TinySites.Site("outside", Modalities.Both, Train, 1, seed: 3).Train;
        var factory = new PublicEncoders();
        var runner = new ExperimentRunner(factory, c => new RoundAggregatorServer(c)) { ArtifactsFolder = folder.Path };
        runner.Run(sites, new ExperimentPlan { Config = config, Rounds = 2, Seeds = [3], Strategies = [Strategy.FedMM] });

        var federation = ExperimentRunner.FederationFolder(folder.Path, Strategy.FedMM, 0, 3);
        Assert.Equal([1, 2], RecordedFederationAttack.Rounds(federation));
        foreach (var file in new[] { "updates/client_0/vectors.safetensors", "updates/client_1/metrics.json", "global/weights.safetensors", "global/report.json" })
            Assert.True(File.Exists(Path.Combine(federation, "rounds", "0002", file)), file);
        var recorded = JsonSerializer.Deserialize<FederationConfig>(File.ReadAllText(Path.Combine(federation, RecordedFederationAttack.ConfigFile)), ContractJson.Options)!;
        Assert.Equal(config.Privacy, recorded.Privacy);
        PoolPart[] parts =
        [
            .. sites.SelectMany(s => new[] { new PoolPart($"{s.ClientId}/train", s.Train, s.ClientId), new PoolPart($"{s.ClientId}/val", s.Val, null, HeldOutOf: s.ClientId) }),
            new PoolPart("outside", outside, null),
        ];
        using var pool = CandidatePool.Encode(recorded, factory, parts);
        var results = RecordedFederationAttack.Run(federation, recorded, pool);
        foreach (var r in results)
            output.WriteLine($"{r.Target} round {r.Round} {r.Modality}: {r.Rows} rows, identification {r.Identification:F3} (chance {r.Chance:F3}), advantage {r.Advantage:F3} (by chance {r.AdvantageByChance:F3}), AUC {r.Auc:F3}, control {r.ControlAdvantage:F3}, pool advantage {r.PoolAdvantage:F3}, AUC {r.PoolAuc:F3}");
        return results;
    }
}
