package s3_test

import (
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/storage/s3"
)

// New refuses an endpoint with a user or password in it without quoting
// it: the error reaches the log. Base URLs without them are taken.
func TestNewEndpoint(t *testing.T) {
	for _, endpoint := range []string{
		"https://AKIAEXAMPLE:hunter2-secret@s3.example.com",
		"https://hunter2-secret@s3.example.com",
		"AKIAEXAMPLE:hunter2-secret@s3.example.com",
		"https://AKIAEXAMPLE:hunter2%zz-secret@s3.example.com",
	} {
		_, err := s3.New(s3.Config{Endpoint: endpoint, Bucket: "b", Region: "us-east-1", AccessKey: "k", SecretKey: "s"})
		if err == nil {
			t.Errorf("%s: New succeeded", endpoint)
		} else if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "AKIAEXAMPLE") {
			t.Errorf("%s: error quotes the credentials: %v", endpoint, err)
		}
	}
	for _, endpoint := range []string{"https://s3.example.com", "http://127.0.0.1:7070"} {
		if _, err := s3.New(s3.Config{Endpoint: endpoint, Bucket: "b", Region: "us-east-1", AccessKey: "k", SecretKey: "s"}); err != nil {
			t.Errorf("%s: %v", endpoint, err)
		}
	}
}
