using System.Text.Json;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using FedMM.Grains.Storage;
using FedMM.Learning.Federation;

namespace FedMM.Service.Tests.Infrastructure;

/// <summary>Creates federations with small configs and short deadlines, and registers sites, through the grains.</summary>
public static class TestFederation
{
    /// <summary>Labels of the test federations.</summary>
    public static readonly IReadOnlyList<string> Labels = ["head", "thorax", "abdomen"];

    /// <summary>A config small enough for fast tests: d = 8, two local clusters.</summary>
    public static FederationConfig Config(int minClients, TimeSpan deadline) => new()
    {
        Name = "service test",
        Labels = Labels,
        Model = new ModelConfig { AdapterDim = 8, AttentionHeads = 2, FeedForwardDim = 16 },
        Round = new RoundConfig { MinClients = minClients, Deadline = deadline, LocalClusters = 2, ImageClusters = 2, TextClusters = 2, KMeansIterations = 5 },
    };

    /// <summary>A fresh federation id.</summary>
    public static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 63)];

    /// <summary>Creates a federation and registers the given sites; returns the federation grain and the tokens.</summary>
    public static async Task<(IFederationGrain Federation, Dictionary<string, ClientRegistration> Sites)> CreateAsync(
        IGrainFactory grains, string prefix, FederationConfig config, params (string ClientId, string Modalities)[] sites)
    {
        string id = NewId(prefix);
        var federation = grains.GetGrain<IFederationGrain>(id);
        await federation.CreateAsync(config);
        var registrations = new Dictionary<string, ClientRegistration>();
        foreach (var (clientId, modalities) in sites)
            registrations[clientId] = await federation.RegisterClientAsync(clientId, modalities);
        return (federation, registrations);
    }

    /// <summary>The three kinds of site: image-only, text-only, image+text.</summary>
    public static readonly (string, string)[] ThreeSites = [("site-image", "image"), ("site-text", "text"), ("site-both", "image+text")];

    /// <summary>
    /// Polls the round until <paramref name="done"/> holds and the federation has recorded the state it
    /// has then (the round's push arrived); fails with the last view after <paramref name="timeout"/>.
    /// </summary>
    public static async Task<RoundView> WaitForRoundAsync(IFederationGrain federation, int round, Func<RoundView, bool> done, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        RoundView view = await federation.GetRoundAsync(round);
        while (!done(view) || (await federation.GetAsync())!.Rounds[round - 1].State != view.State)
        {
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"Round {round} still {view.State} after {timeout}: submitted [{string.Join(", ", view.Submitted)}], reason {view.Reason}.");
            await Task.Delay(150);
            view = await federation.GetRoundAsync(round);
        }
        return view;
    }
}
