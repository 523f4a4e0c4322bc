<?php
// Mint a checkout token for one invoice on your server (PHP 8, no extensions beyond the defaults: the
// request goes through PHP's HTTP stream wrapper). Never send the secret key to a browser: only the token
// goes into the page, as <tranche-checkout token="...">.
//   TRANCHE_API=http://127.0.0.1:8080 TRANCHE_SECRET_KEY=sk_... php mint-token.php inv_0123...
// Prints the API's answer: {"id", "token", "url", "expires_at"}.

function mint_checkout_token(string $api, string $secretKey, string $invoiceId, int $expiresInSeconds = 86400): array
{
    $url = rtrim($api, '/') . '/v1/invoices/' . rawurlencode($invoiceId) . '/checkout-links';
    $context = stream_context_create(['http' => [
        'method' => 'POST',
        'header' => "Authorization: Bearer {$secretKey}\r\nContent-Type: application/json\r\n",
        'content' => json_encode(['expires_in_seconds' => $expiresInSeconds]),
        'ignore_errors' => true, // read the problem+json body of a 4xx too
        'timeout' => 10,
    ]]);
    $body = file_get_contents($url, false, $context);
    if ($body === false) {
        throw new RuntimeException("could not reach {$url}");
    }
    $status = (int) explode(' ', $http_response_header[0] ?? 'HTTP/1.1 0')[1];
    $answer = json_decode($body, true);
    if ($status < 200 || $status >= 300 || !is_array($answer)) {
        // Errors are application/problem+json: `code` is stable, `detail` is for people.
        throw new RuntimeException("{$status} " . ($answer['code'] ?? 'error') . ': ' . ($answer['detail'] ?? $body));
    }
    return $answer;
}

if (PHP_SAPI === 'cli' && realpath($argv[0]) === __FILE__) {
    $api = getenv('TRANCHE_API');
    $key = getenv('TRANCHE_SECRET_KEY');
    if ($argc < 2 || !$api || !$key) {
        fwrite(STDERR, "usage: TRANCHE_API=... TRANCHE_SECRET_KEY=sk_... php mint-token.php <invoice id> [expires_in_seconds]\n");
        exit(2);
    }
    try {
        echo json_encode(mint_checkout_token($api, $key, $argv[1], (int) ($argv[2] ?? 86400))), "\n";
    } catch (RuntimeException $e) {
        fwrite(STDERR, $e->getMessage() . "\n");
        exit(1);
    }
}
