// Package trafficjson is the JSON codec of the analysis document's two long
// arrays, its flows (traffic.Flow) and its contacts (traffic.Contact): a
// hundred thousand of each for a perimeter capture.
//
// Its contract is encoding/json's reflection over those types, which have
// no JSON methods of their own: json.Marshal and json.Unmarshal of them
// give the same bytes and values, only slower. encoding/json's reflection
// over them was the largest part of writing the document (report.JSON),
// and of reading it back (analyze.DecodeResult, dockcase report).
//
// AppendFlow and AppendContact write the bytes json.Marshal gives for the
// same value (keys in field order, omitempty as tagged, strings escaped as
// encoding/json escapes them, HTML characters included), without
// reflection; AppendIndentedFlow and AppendIndentedContact write the bytes
// json.MarshalIndent gives, from the same walk of the value. Tests compare
// them with the reflection encoder's, on hostile strings too.
//
// DecodeFlows and DecodeContacts read an array of them. Each element in
// the form the encoders write is read without reflection: the keys as
// written, each once; strings of printable ASCII or valid UTF-8 without
// escapes; integers in plain decimal; null only where the encoders write
// it. Anything else (an escape, a key it does not know, a duplicate, a
// fraction, a bad address) makes the decoder decode the element again
// with json.Unmarshal, from a zero value: so the result, and the error of
// a bad document, are always those encoding/json gives.
package trafficjson
