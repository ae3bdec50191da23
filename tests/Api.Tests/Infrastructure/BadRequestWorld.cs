using FedMM.Contracts;
using FedMM.Learning.Federation;

namespace FedMM.Api.Tests.Infrastructure;

/// <summary>
/// The state the bad requests run against. Federation "badreq": sites img-site (image),
/// txt-site (text), both-site (image+text) in round 1 (Collecting; both-site has uploaded) and
/// round 2 (Queued); late-site registered after the rounds were queued. Federation "closed":
/// solo-site, round 1 Cancelled.
/// </summary>
public sealed class BadRequestWorld
{
    /// <summary>The main federation.</summary>
    public const string Federation = "badreq";

    /// <summary>The federation with a cancelled round.</summary>
    public const string Closed = "closed";

    /// <summary>Config of both federations.</summary>
    public FederationConfig Config { get; } = ApiFixture.Config("bad requests");

    /// <summary>Site tokens by client id.</summary>
    public Dictionary<string, string> Tokens { get; } = [];

    /// <summary>The update both-site stored in round 1.</summary>
    public SiteUpdateFiles BothSiteUpload { get; private set; } = null!;

    /// <summary>Creates the world through the API.</summary>
    public static async Task<BadRequestWorld> CreateAsync(ApiFixture api)
    {
        var world = new BadRequestWorld();
        await api.CreateFederationAsync(Federation, world.Config);
        world.Tokens["img-site"] = await api.RegisterAsync(Federation, "img-site", Modalities.Image);
        world.Tokens["txt-site"] = await api.RegisterAsync(Federation, "txt-site", Modalities.Text);
        world.Tokens["both-site"] = await api.RegisterAsync(Federation, "both-site", Modalities.Both);
        await api.StartRoundsAsync(Federation, 2);
        world.Tokens["late-site"] = await api.RegisterAsync(Federation, "late-site", Modalities.Image);
        world.BothSiteUpload = SiteUpdateFiles.Valid(world.Config, "both-site", Modalities.Both, 1);
        await api.Expect(await api.UploadAsync(world.Tokens["both-site"], Federation, 1, "both-site", world.BothSiteUpload.ToContent()), 201);

        await api.CreateFederationAsync(Closed, world.Config);
        world.Tokens["solo-site"] = await api.RegisterAsync(Closed, "solo-site", Modalities.Image);
        await api.StartRoundsAsync(Closed, 1);
        await api.Expect(await api.Operator().PostAsync($"/api/federations/{Closed}/rounds/1/cancel", null), 200);
        return world;
    }

    /// <summary>A valid update of img-site for round 1 (not yet uploaded).</summary>
    public SiteUpdateFiles ImageSiteUpdate(int round = 1) => SiteUpdateFiles.Valid(Config, "img-site", Modalities.Image, round);
}
