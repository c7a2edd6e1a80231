package api

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// unaryInterceptor counts and times every call, logs failed ones at debug
// (an error is the client's answer, not the operator's problem), answers
// with the error's clean message (CleanMessage), and turns
// a handler panic into Internal so one bad request cannot take the node
// down.
func unaryInterceptor(log zerolog.Logger, m *metrics) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		start := time.Now()
		defer func() {
			if r := recover(); r != nil {
				log.Error().Str("method", info.FullMethod).Interface("panic", r).
					Bytes("stack", debug.Stack()).Msg("grpc handler panicked")
				resp, err = nil, status.Error(codes.Internal, "internal error")
			}
			code := status.Code(err)
			m.requests.WithLabelValues(info.FullMethod, code.String()).Inc()
			m.latency.WithLabelValues(info.FullMethod, code.String()).Observe(time.Since(start).Seconds())
			if err != nil {
				log.Debug().Str("method", info.FullMethod).Str("code", code.String()).
					Err(err).Msg("grpc request failed")
			}
			// The debug line above keeps the whole chain; the caller
			// gets one clean line (CleanMessage).
			err = cleanStatus(err)
		}()
		return handler(ctx, req)
	}
}

// streamInterceptor does for streams (Session.Connect) what
// unaryInterceptor does for calls, except timing: a stream lives as long as
// its session, which says nothing about the server's latency.
func streamInterceptor(log zerolog.Logger, m *metrics) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error().Str("method", info.FullMethod).Interface("panic", r).
					Bytes("stack", debug.Stack()).Msg("grpc stream handler panicked")
				err = status.Error(codes.Internal, "internal error")
			}
			code := status.Code(err)
			m.requests.WithLabelValues(info.FullMethod, code.String()).Inc()
			if err != nil {
				log.Debug().Str("method", info.FullMethod).Str("code", code.String()).
					Err(err).Msg("grpc stream ended with error")
			}
			err = cleanStatus(err)
		}()
		return handler(srv, ss)
	}
}
