using FedMM.Api.Artifacts;
using FedMM.Api.Clients;
using FedMM.Api.Rounds;
using FedMM.Api.Security;
using FedMM.Contracts;
using FedMM.Grains.Interfaces;
using FedMM.Grains.Interfaces.Models;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.FileProviders;

namespace FedMM.Api.OperatorConsole;

/// <summary>A site as the console lists it: registration, last contact and the rounds it took part in.</summary>
/// <param name="ClientId">Client id.</param>
/// <param name="Modalities">"image", "text" or "image+text".</param>
/// <param name="RegisteredAt">Registration time.</param>
/// <param name="LastContact">Last call with its token to this API process; null when none since it started.</param>
/// <param name="RoundsTakenPart">Finished rounds it delivered an update to.</param>
/// <param name="RoundsMissed">Finished rounds it was a participant of without an update.</param>
public sealed record SiteStatusResponse(string ClientId, string Modalities, DateTimeOffset RegisteredAt, DateTimeOffset? LastContact, int RoundsTakenPart, int RoundsMissed);

/// <summary>A completed round's image/text pairing: the full cost matrix and the chosen pairs.</summary>
/// <param name="Round">Round number.</param>
/// <param name="Cost">Cost per image cluster (row) and text cluster (column).</param>
/// <param name="Pairs">The pairs the Hungarian solver chose.</param>
public sealed record PairingResponse(int Round, double[][] Cost, IReadOnlyList<PairResponse> Pairs);

/// <summary>Image cluster <paramref name="Image"/> paired with text cluster <paramref name="Text"/>.</summary>
public sealed record PairResponse(int Image, int Text, double Cost);

/// <summary>
/// The operator's web console (static pages under /console, docs/CONSOLE.md) and the read-only
/// operator endpoints it needs beyond docs/API.md.
/// </summary>
public static class ConsoleApi
{
    /// <summary>Where the console is served.</summary>
    public const string Path = "/console";

    /// <summary>Serves the console's pages, scripts and styles from the app (no CDN).</summary>
    public static WebApplication MapConsole(this WebApplication app)
    {
        var assets = new PhysicalFileProvider(System.IO.Path.Combine(AppContext.BaseDirectory, "Console", "assets"));
        // Relative asset links need the trailing slash; routing would treat both forms alike, so this is not an endpoint.
        app.Use((context, next) =>
        {
            if (context.Request.Path.Value != Path) return next(context);
            context.Response.Redirect(Path + "/");
            return Task.CompletedTask;
        });
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = assets, RequestPath = Path });
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = assets,
            RequestPath = Path,
            // Pages may embed nothing from elsewhere; the operator key lives in session storage, so no script may come from another origin.
            OnPrepareResponse = file =>
            {
                file.Context.Response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; frame-ancestors 'none'";
                file.Context.Response.Headers.CacheControl = "no-cache";
            },
        });
        var api = app.MapGroup("/api/federations/{fid}").WithTags("Console").RequireAuthorization(ApiAuthorization.Operator);
        api.MapGet("/sites", ListSites).WithName("ListSiteStatus").WithSummary("Sites with last contact and rounds taken part in")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet("/rounds/{r:int}/pairing", GetPairing).WithName("GetRoundPairing").WithSummary("A completed round's image/text pairing cost matrix and chosen pairs")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        return app;
    }

    /// <summary>GET /api/federations/{fid}/sites.</summary>
    public static async Task<Results<Ok<SiteStatusResponse[]>, ProblemHttpResult>> ListSites(string fid, IGrainFactory grains, SiteContacts contacts)
    {
        var federation = grains.GetGrain<IFederationGrain>(fid);
        if (await federation.GetAsync() is null) return Federations.FederationsApi.NotFound(fid);
        var clients = await federation.ListClientsAsync();
        return TypedResults.Ok(clients.Select(c => new SiteStatusResponse(
            c.ClientId, c.Modalities, c.RegisteredAt, contacts.LastContact(fid, c.ClientId),
            c.History.Count(h => h.Metrics is not null), c.History.Count(h => h.Metrics is null))).ToArray());
    }

    /// <summary>GET /api/federations/{fid}/rounds/{r}/pairing.</summary>
    public static async Task<Results<Ok<PairingResponse>, ProblemHttpResult>> GetPairing(
        string fid, int r, IGrainFactory grains, ArtifactContainer artifacts, CancellationToken cancellationToken)
    {
        var (round, refusal) = await RoundsApi.FindRoundAsync(grains, fid, r);
        if (round is null) return refusal!;
        if (round.State != RoundState.Completed)
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "No pairing yet",
                detail: $"Round {r} of federation '{fid}' is {round.State}; its pairing exists once it is Completed.");
        // The safetensors reader works on files; a global vectors package is small (centers and fused vectors).
        string file = System.IO.Path.GetTempFileName();
        try
        {
            await artifacts.Container.GetBlobClient(ArtifactLayout.Global(fid, r, ArtifactLayout.Vectors)).DownloadToAsync(file, cancellationToken);
            if (GlobalVectorsPairing.Read(file, r) is not { } pairing)
                return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No pairing",
                    detail: $"Round {r} of federation '{fid}' paired nothing: its sites reported only one modality.");
            int rows = pairing.Cost.GetLength(0), cols = pairing.Cost.GetLength(1);
            var cost = Enumerable.Range(0, rows).Select(i => Enumerable.Range(0, cols).Select(j => pairing.Cost[i, j]).ToArray()).ToArray();
            var pairs = pairing.ImageClusters.Select((image, p) => new PairResponse(image, pairing.TextClusters[p], pairing.Cost[image, pairing.TextClusters[p]])).ToList();
            return TypedResults.Ok(new PairingResponse(r, cost, pairs));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
