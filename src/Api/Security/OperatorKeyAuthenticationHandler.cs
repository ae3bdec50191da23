using System.Text.Encodings.Web;
using FedMM.Api.Configuration;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace FedMM.Api.Security;

/// <summary>
/// Authenticates the operator by the <see cref="OperatorKey.Header"/> header, compared in constant
/// time with <c>Api:AdminKey</c>. No header: no result (another scheme or the challenge answers);
/// an empty header is a missing key (401); a wrong key fails with 403.
/// </summary>
public sealed class OperatorKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions, ILoggerFactory loggers, UrlEncoder encoder, IOptions<ApiOptions> api)
    : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, loggers, encoder)
{
    /// <inheritdoc />
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!OperatorKey.IsPresented(Context)) return Task.FromResult(AuthenticateResult.NoResult());
        string presented = Request.Headers[OperatorKey.Header].ToString();
        if (string.IsNullOrEmpty(presented)) return Task.FromResult(AuthenticateResult.Fail(OperatorKey.Missing()));
        return Task.FromResult(SecretComparison.FixedTimeEquals(presented, api.Value.AdminKey)
            ? AuthenticateResult.Success(new AuthenticationTicket(Caller.Operator.ToPrincipal(Scheme.Name), Scheme.Name))
            : AuthenticateResult.Fail(new CredentialsRefusedException(StatusCodes.Status403Forbidden, "Wrong admin key",
                $"The {OperatorKey.Header} header does not hold the admin key.")));
    }
}
