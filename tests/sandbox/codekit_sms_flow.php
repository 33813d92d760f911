<?php
/*
 * The SMS flow of AT&T's PHP SDK (codekit-php integration_tests/SMSServiceTest.php: token,
 * inbox, send, delivery status), run with the SDK's own unchanged classes
 * (tests/vendor/codekit-php) against a sandbox, checking what the SDK parsed.
 *
 * php codekit_sms_flow.php URL CLIENT_ID CLIENT_SECRET REGISTRATION_ID SENDER TEXT TO1 TO2
 *
 * SENDER is the inbox message's sender as the SDK should see it (e.g. tel:2125550100).
 * Prints one "PASS step" or "FAIL step: why" line a step, then "N/5 passed";
 * exits 0 only when all five pass.
 */

$lib = __DIR__ . '/../vendor/codekit-php/lib';
require_once $lib . '/SMS/SMSService.php';
require_once $lib . '/OAuth/OAuthTokenService.php';

use Att\Api\OAuth\OAuthTokenService;
use Att\Api\SMS\SMSService;

// A missing key is a warning in PHP 8 ("Undefined array key"): make it the step's failure.
set_error_handler(function ($severity, $message, $file, $line) {
    if ($severity & (E_DEPRECATED | E_USER_DEPRECATED)) {
        return true;  // the SDK is from 2014; deprecations say nothing about the sandbox
    }
    throw new ErrorException($message, 0, $severity, $file, $line);
});

function check($condition, $why)
{
    if (!$condition) {
        throw new Exception($why);
    }
}

if ($argc != 9) {
    fwrite(STDERR, "usage: php codekit_sms_flow.php URL ID SECRET REGISTRATION SENDER TEXT TO1 TO2\n");
    exit(2);
}
list(, $url, $clientId, $secret, $registration, $sender, $text, $to1, $to2) = $argv;

$passed = 0;
$state = array();

function step($name, $body, &$passed, &$state)
{
    try {
        $body($state);
        $passed++;
        echo "PASS $name\n";
    } catch (Throwable $e) {
        echo "FAIL $name: " . get_class($e) . ': ' . $e->getMessage() . "\n";
    }
}

step('token', function (&$s) use ($url, $clientId, $secret) {
    $osrvc = new OAuthTokenService($url, $clientId, $secret);
    $s['token'] = $osrvc->getToken('SMS');
    check($s['token']->getAccessToken() != null, 'no access token');
}, $passed, $state);

step('inbox', function (&$s) use ($url, $registration, $sender, $text) {
    check(isset($s['token']), 'no token');
    $srvc = new SMSService($url, $s['token']);
    $response = $srvc->getMessages($registration);
    check($response->getResourceUrl() != null, 'no ResourceUrl');
    check($response->getNumberOfMessages() == 1, 'NumberOfMessages '
        . var_export($response->getNumberOfMessages(), true));
    check($response->getNumberOfPendingMessages() == 0, 'pending not 0');
    $msg = $response->getMessages()[0];
    check($msg->getMessageId() != null, 'no MessageId');
    check($msg->getSenderAddress() === $sender, 'sender ' . $msg->getSenderAddress());
    check($msg->getMessage() === $text, 'text ' . $msg->getMessage());
}, $passed, $state);

step('send to one', function (&$s) use ($url, $to1) {
    check(isset($s['token']), 'no token');
    $srvc = new SMSService($url, $s['token']);
    $response = $srvc->sendSMS($to1, 'test msg ok', false);
    check($response->getMessageId() != null, 'no messageId');
    check($response->getResourceUrl() != null, 'no resourceURL');
}, $passed, $state);

step('send to two', function (&$s) use ($url, $to1, $to2) {
    check(isset($s['token']), 'no token');
    $srvc = new SMSService($url, $s['token']);
    $response = $srvc->sendSMS(array($to1, $to2), 'test msg ok', false);
    check($response->getMessageId() != null, 'no messageId');
    $s['two'] = $response->getMessageId();
}, $passed, $state);

step('delivery status', function (&$s) use ($url) {
    check(isset($s['two']), 'no message id from the send to two');
    $srvc = new SMSService($url, $s['token']);
    $response = $srvc->getSMSDeliveryStatus($s['two']);
    check($response->getResourceUrl() != null, 'no ResourceUrl');
    $infos = $response->getDeliveryInfoList();
    check(count($infos) == 2, count($infos) . ' DeliveryInfo entries, not 2');
    foreach ($infos as $info) {
        check($info->getId() === $s['two'], 'Id ' . $info->getId());
        check($info->getAddress() != null, 'no Address');
        check($info->getDeliveryStatus() != null, 'no DeliveryStatus');
        echo '  ' . $info->getAddress() . ' ' . $info->getDeliveryStatus() . "\n";
    }
}, $passed, $state);

echo "$passed/5 passed\n";
exit($passed == 5 ? 0 : 1);
